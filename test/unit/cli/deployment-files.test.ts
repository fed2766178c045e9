/**
 * The deployment files (Dockerfile, docker-compose.yml, .dockerignore,
 * deploy/kubernetes/) say what issue 9 asks of them. kubectl is not on this
 * machine, so the Kubernetes objects are parsed (js-yaml, already in
 * node_modules through mocha) and checked for the fields kubectl's client-side
 * dry run would need, and for their cross references (probe and Service
 * ports name container ports, the ServiceMonitor names a Service port).
 * `docker compose config` itself runs in .ci/run where a compose client exists.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

// parsed YAML: shapes are checked by the assertions themselves
type Obj = Record<string, any>;
const yaml = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown; loadAll(text: string): unknown[] };
const read = (p: string) => readFileSync(path.resolve(p), "utf8");

describe("deployment files", () => {
  describe("Dockerfile", () => {
    const text = read("Dockerfile");
    const stages = text.split(/^FROM /m).slice(1);
    const runtime = stages.at(-1)!;

    it("builds in one stage and runs compiled output only, from the current Node LTS, as a non-root user", () => {
      assert.ok(stages.length >= 2, "multi-stage");
      assert.match(runtime, /^node:24[-\w.]*/, "Node 24 (the current LTS)");
      assert.match(stages[0]!, /npm run build/);
      assert.match(runtime, /COPY --from=build \/app\/dist \.\/dist/);
      assert.doesNotMatch(runtime, /COPY[^\n]*\b(src|test|bench|migrations)\b/, "no sources, tests or benchmarks in the image");
      assert.doesNotMatch(runtime, /\btsx\b[^\n]*src\//);
      assert.match(runtime, /^USER node$/m);
    });

    it("checks health on /readyz and drains on SIGTERM", () => {
      assert.match(runtime, /^HEALTHCHECK [\s\S]*127\.0\.0\.1:\$\{process\.env\.SIGIL_HTTP_PORT\|\|8080\}\/readyz/m);
      assert.match(runtime, /^STOPSIGNAL SIGTERM$/m);
      assert.match(runtime, /^EXPOSE 8080 8443 9090$/m);
    });
  });

  it(".dockerignore keeps data, key and secret files, dependencies, builds and .git out of the context", () => {
    const lines = read(".dockerignore").split("\n").map((l) => l.trim());
    for (const entry of ["data", "secrets", "**/*.key", "**/master.key", "**/initial-admin-password", "node_modules", "dist", ".git", ".env"]) {
      assert.ok(lines.includes(entry), `.dockerignore lists ${entry}`);
    }
  });

  describe("docker-compose.yml", () => {
    const compose = yaml.load(read("docker-compose.yml")) as Obj;
    const { postgres, sigil } = compose.services as Record<string, Obj>;

    it("restarts both services unless stopped and health-checks both (Sigil on /readyz)", () => {
      for (const [name, s] of Object.entries(compose.services as Record<string, Obj>)) {
        assert.equal(s.restart, "unless-stopped", name);
        assert.ok(Array.isArray(s.healthcheck?.test), `${name} has a healthcheck`);
      }
      assert.match(sigil!.healthcheck.test.join(" "), /127\.0\.0\.1:8080\/readyz/);
      assert.deepEqual(sigil!.depends_on, { postgres: { condition: "service_healthy" } });
      assert.ok(Number.parseInt(sigil!.stop_grace_period, 10) > Number(sigil!.environment.SIGIL_SHUTDOWN_GRACE_SECONDS), "docker waits longer than the drain");
    });

    it("takes the master key and the database password from secret files, with no password inline", () => {
      assert.equal(postgres!.environment.POSTGRES_PASSWORD, undefined);
      assert.equal(postgres!.environment.POSTGRES_PASSWORD_FILE, "/run/secrets/sigil_db_password");
      assert.equal(new URL(sigil!.environment.DATABASE_URL).password, "", "no password in DATABASE_URL");
      assert.equal(sigil!.environment.DATABASE_PASSWORD_FILE, "/run/secrets/sigil_db_password");
      assert.equal(sigil!.environment.SIGIL_MASTER_KEY_FILE, "/run/secrets/sigil_master_key");
      assert.equal(sigil!.environment.SIGIL_BOOTSTRAP_ADMIN_PASSWORD, undefined, "the first-run password goes to the data volume");
      assert.deepEqual([...sigil!.secrets].sort(), ["sigil_db_password", "sigil_master_key"]);
      for (const s of Object.values(compose.secrets as Record<string, Obj>)) assert.ok(s.file, "file secrets");
      assert.doesNotMatch(read("docker-compose.yml"), /PASSWORD:\s*\S+\s*$/m, "no VAR_PASSWORD: value line");
    });

    it("publishes gRPC on the host's loopback only", () => {
      const ports = sigil!.ports as string[];
      assert.ok(ports.includes("127.0.0.1:9090:9090"));
      assert.ok(!ports.some((p) => /^(0\.0\.0\.0:)?9090:/.test(p)));
    });
  });

  describe("deploy/kubernetes", () => {
    const dir = path.resolve("deploy/kubernetes");
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
    const docs = files.flatMap((f) => yaml.loadAll(readFileSync(path.join(dir, f), "utf8")).map((d) => ({ file: f, doc: d as Obj })));
    const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

    it("every object has apiVersion, kind and metadata.name, and the kustomization lists every file", () => {
      for (const { file, doc } of docs) {
        assert.ok(typeof doc.apiVersion === "string" && typeof doc.kind === "string", `${file}: apiVersion and kind`);
        if (doc.kind !== "Kustomization") assert.ok(typeof doc.metadata?.name === "string", `${file}: metadata.name`);
      }
      const [kustomization] = byKind("Kustomization");
      assert.deepEqual([...kustomization!.resources].sort(), files.filter((f) => f !== "kustomization.yaml").sort());
    });

    it("the Deployment probes /readyz (readiness) and /healthz (liveness) on a declared port, runs as non-root, mounts the Secret", () => {
      const [deployment] = byKind("Deployment");
      const pod = deployment!.spec.template.spec;
      assert.deepEqual(deployment!.spec.selector.matchLabels, deployment!.spec.template.metadata.labels);
      const [c] = pod.containers as Obj[];
      const portNames = new Set((c!.ports as Obj[]).map((p) => p.name));
      assert.equal(c!.readinessProbe.httpGet.path, "/readyz");
      assert.equal(c!.livenessProbe.httpGet.path, "/healthz");
      for (const probe of [c!.readinessProbe, c!.livenessProbe, c!.startupProbe]) assert.ok(portNames.has(probe.httpGet.port), `probe port ${probe.httpGet.port}`);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.ok(pod.terminationGracePeriodSeconds > 25, "longer than the drain");
      const env = Object.fromEntries((c!.env as Obj[]).map((e) => [e.name, e.value]));
      assert.equal(new URL(env.DATABASE_URL).password, "");
      const [secret] = byKind("Secret");
      const mount = (c!.volumeMounts as Obj[]).find((m) => m.name === "secrets")!;
      assert.equal(pod.volumes.find((v: Obj) => v.name === "secrets").secret.secretName, secret!.metadata.name);
      for (const key of Object.keys(secret!.stringData)) {
        assert.ok([env.DATABASE_PASSWORD_FILE, env.SIGIL_MASTER_KEY_FILE].includes(`${mount.mountPath}/${key}`), `the Secret's ${key} is used`);
      }
    });

    it("the Services target declared container ports, and the ServiceMonitor scrapes /metrics on a Service port", () => {
      const [deployment] = byKind("Deployment");
      const podLabels = deployment!.spec.template.metadata.labels as Obj;
      const portNames = new Set((deployment!.spec.template.spec.containers[0].ports as Obj[]).map((p) => p.name));
      const services = byKind("Service");
      for (const s of services) {
        for (const [k, v] of Object.entries(s.spec.selector as Obj)) assert.equal(podLabels[k], v, `${s.metadata.name} selects the pods`);
        for (const p of s.spec.ports as Obj[]) assert.ok(portNames.has(p.targetPort), `${s.metadata.name} targets ${p.targetPort}`);
      }
      const [monitor] = byKind("ServiceMonitor");
      const selected = services.filter((s) => Object.entries(monitor!.spec.selector.matchLabels as Obj).every(([k, v]) => s.metadata.labels?.[k] === v));
      assert.equal(selected.length, 1, "the monitor selects one Service");
      const endpoint = monitor!.spec.endpoints[0] as Obj;
      assert.equal(endpoint.path, "/metrics");
      assert.ok((selected[0]!.spec.ports as Obj[]).some((p) => p.name === endpoint.port));
    });
  });
});
