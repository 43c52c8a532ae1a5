/* Token tiling shared by the tiled x86 kernels (kernels_avx2.c,
 * kernels_avx512.c).
 *
 * A tile function is always inlined and takes its shape (rows or row groups
 * by tokens) as compile-time constants, so that its accumulators live in
 * registers: each width is its own code. A kernel therefore walks its tokens
 * in full tiles of TT, then hands the remainder (fewer than TT) to a switch
 * whose every case is one narrower tile. TILE(A, T) is the caller's macro
 * computing tokens [t, t + T) of its tile A; `t` is declared here. TAILS is
 * the list of remainder cases, LMX_TAILS_n for n = TT - 1 (or more). */
#ifndef LMX_KERNELS_TILE_H
#define LMX_KERNELS_TILE_H

#define LMX_TAIL_CASE(TILE, A, N)                                                                  \
    case N:                                                                                        \
        TILE(A, N);                                                                                \
        break;
#define LMX_TAILS_2(TILE, A) LMX_TAIL_CASE(TILE, A, 1) LMX_TAIL_CASE(TILE, A, 2)
#define LMX_TAILS_5(TILE, A)                                                                       \
    LMX_TAILS_2(TILE, A)                                                                           \
    LMX_TAIL_CASE(TILE, A, 3) LMX_TAIL_CASE(TILE, A, 4) LMX_TAIL_CASE(TILE, A, 5)
#define LMX_TAILS_11(TILE, A)                                                                      \
    LMX_TAILS_5(TILE, A)                                                                           \
    LMX_TAIL_CASE(TILE, A, 6)                                                                      \
    LMX_TAIL_CASE(TILE, A, 7)                                                                      \
    LMX_TAIL_CASE(TILE, A, 8) LMX_TAIL_CASE(TILE, A, 9) LMX_TAIL_CASE(TILE, A, 10)                 \
        LMX_TAIL_CASE(TILE, A, 11)

#define LMX_TOK_TILES(n_tok, TT, TAILS, TILE, A)                                                   \
    do {                                                                                           \
        int t = 0;                                                                                 \
        for (; t + (TT) <= n_tok; t += (TT)) TILE(A, TT);                                          \
        switch (n_tok - t) {                                                                       \
            TAILS(TILE, A)                                                                         \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/* The loop nest over a tile's A x T outputs (accumulators zeroed, reduced,
 * stored), both loops fully unrolled: A and T are compile-time constants of
 * at most 16 each, so the accumulators stay in registers. */
#define LMX_FOR_TILE(i, A, t, T)                                                                   \
    _Pragma("GCC unroll 16") for (int i = 0; i < (A); i++)                                         \
        _Pragma("GCC unroll 16") for (int t = 0; t < (T); t++)

#endif
