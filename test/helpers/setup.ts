/**
 * Loaded before every test file (.mocharc.json "require"; in parallel mode
 * in every worker). bcrypt at the production cost (12) was most of the
 * suite's time: every bootstrap, user creation and login hashes or compares.
 * Cost 4 (bcrypt's minimum) keeps the same code path at a fraction of the
 * time. For this process (in-process CLI runs, configs loaded from
 * process.env) and every process it spawns; test/helpers/server.ts passes
 * it explicitly too. Unit tests of the cost itself set their own.
 */
process.env.SIGIL_BCRYPT_COST ??= "4";

export {};
