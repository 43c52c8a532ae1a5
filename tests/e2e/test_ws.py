#!/usr/bin/env python3
"""The WebSocket endpoint (/v1/realtime) driven by a real client, the npm
`ws` package (node/ws.mjs): two chats streamed on one socket while a third is
cancelled, a Responses stream (the SSE /v1/responses events) beside a chat while
another is cancelled, ping/pong, the API key checked at the upgrade, error frames for bad
messages, and 429 frames with retry_after when the queue is full."""
import os

from harness import SHARED, main
from node_checks import register, run_driver
from server_util import MODEL, Server

SYNTH = os.path.join(SHARED, 'models', 'synth', 'llama-f32.gguf')
_results = None


def results():
    global _results
    if _results is None:
        with Server('--api-key', 'sk-ws', '--tenancy-db', ':memory:', '-t', 1, '-c', 32768,
                    model=SYNTH) as s, \
                Server('--parallel', 1, '--queue', 1, '-t', 1, '--tenancy-db', ':memory:',
                       model=SYNTH) as busy:
            env = dict(os.environ, WS_URL=f'ws://127.0.0.1:{s.port}/v1/realtime', MODEL='llama-f32',
                       KEY='sk-ws', BUSY_URL=f'ws://127.0.0.1:{busy.port}/v1/realtime',
                       BUSY_MODEL='llama-f32')
            _results, _ = run_driver('ws.mjs', env, timeout=180)
            s.stop()
            busy.stop()
    return _results


register(results, ('two_chats_stream_on_one_socket_and_a_third_is_cancelled',
                   'ping_is_answered_with_pong', 'missing_key_gets_401_before_the_upgrade',
                   'bad_messages_get_error_frames_and_the_socket_stays_open',
                   'flooding_past_the_queue_gets_429_frames_with_retry_after',
                   'a_responses_stream_and_a_chat_stream_share_one_socket_and_one_is_cancelled',
                   'a_bad_responses_request_gets_an_error_frame',
                   'flooding_responses_past_the_queue_gets_429_frames_with_retry_after'), 'ws')

if __name__ == '__main__':
    main()
