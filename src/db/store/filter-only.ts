/**
 * Conditions a hot statement applies to rows it already found by key, written
 * so the planner cannot turn them into the way it finds the rows.
 *
 * acme_authorizations and acme_orders carry partial indexes for the clean-up
 * job (`expires` where the status is pending/valid, pending/ready). A hot
 * statement that finds its rows by primary key or by the account index and
 * then checks `status = 'pending'` or `expires > $n` lets the planner pick
 * such an index instead: the status condition implies the index's predicate
 * and the expiry condition is its key. The plan then reads every live
 * authorization or order of every account (1,338 index entries per
 * challenge start or newOrder after a 15 s benchmark at 64 clients, and
 * linear in the live rows ever after). It happens whenever the estimates
 * make the partial index look small: a partial index built on an empty
 * table keeps reltuples = 0 until the first (auto)vacuum or analyze, so on
 * a new database every such plan looks free; and with statistics the
 * generic plan of a prepared statement (an unknown `$n`: a third of the
 * rows) still preferred the expiry index for the newOrder reuse lookup.
 *
 * `(condition) is true` is the same test for the non-null columns it is used
 * on, but it is neither an index condition nor a clause predicate proofs use,
 * so only the key paths remain (test/integration/acme/hot-path-explain.test.ts
 * checks the plans on a never-analyzed database).
 */
export function filterOnly(condition: string): string {
  return `(${condition}) is true`;
}
