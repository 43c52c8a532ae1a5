// The check runner the drivers share. check(name, fn) registers a check;
// run() runs them in order (with command-line arguments, only those whose
// name contains one), printing "ok NAME" or "FAIL NAME: why" (the why's
// lines indented) for node_checks.py to read, then the totals, and exits 1
// if any failed. maxLines cuts a long why (a stack) to its first lines.
const checks = [];

export const check = (name, fn) => checks.push([name, fn]);

export async function run(list = checks, maxLines = Infinity) {
  const only = process.argv.slice(2);
  let passed = 0, failed = 0;
  for (const [name, fn] of list) {
    if (only.length && !only.some((a) => name.includes(a))) continue;
    try {
      await fn();
      console.log(`ok ${name}`);
      passed++;
    } catch (e) {
      const why = String((e && e.stack) || e).split('\n').slice(0, maxLines);
      console.log(`FAIL ${name}: ${why.join('\n    ')}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
