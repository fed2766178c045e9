/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts's `run(args)`.
 * With no name, runs every benchmark in turn.
 */
const BENCHES = ["signer", "acme", "crl", "http", "seed", "cleanup", "admin", "admin-protocols", "ocsp"] as const;

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const names = name ? [name] : [...BENCHES];
  for (const n of names) {
    if (!(BENCHES as readonly string[]).includes(n)) {
      console.error(`unknown benchmark "${n}"; choose one of: ${BENCHES.join(", ")}`);
      process.exit(2);
    }
    const mod = (await import(`./${n}.ts`)) as { run(args: string[]): Promise<void> };
    console.log(`== bench ${n}`);
    await mod.run(args);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
