// Mocha's spec reporter, plus one plain closing line that CI reads:
// "N passed, N failed" (", N skipped" when any were pending). Works in
// --parallel mode too (the reporter runs in the main process; runner.stats
// sums the workers' results).
//
// With SIGIL_TEST_COUNTS_FILE set (test/helpers/run-suites.mjs, which runs
// mocha more than once for npm test) it writes the counts there as JSON
// instead, and the runner prints the one closing line for all runs.
"use strict";
const { writeFileSync } = require("node:fs");
const Mocha = require("mocha");
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const counts = { passes: s.passes || 0, failures: s.failures || 0, pending: s.pending || 0 };
      if (process.env.SIGIL_TEST_COUNTS_FILE) {
        writeFileSync(process.env.SIGIL_TEST_COUNTS_FILE, `${JSON.stringify(counts)}\n`);
        return;
      }
      process.stdout.write(`\n${summaryLine(counts)}\n`);
    });
  }
}

/** "N passed, N failed" (+ ", N skipped") */
function summaryLine({ passes, failures, pending }) {
  return `${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ""}`;
}

module.exports = SummaryReporter;
module.exports.summaryLine = summaryLine;
