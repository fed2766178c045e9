/**
 * The listener certificate from SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY, reloaded
 * without a restart: a cheap stat of both files every few seconds (works
 * for in-place writes, renames and Kubernetes' symlink swaps of mounted
 * secrets, where fs.watch misses events) and on SIGHUP. A new pair that
 * fails checkTlsMaterial (unreadable, key and certificate do not match,
 * expired, half-written) is logged and the previous one stays in service.
 */
import { readFileSync, statSync } from "node:fs";
import { SigilError } from "../core/errors.js";
import type { Logger } from "../logger.js";
import { checkTlsMaterial, type ListenerCertificateSource, type TlsMaterial, type TlsMaterialInfo } from "./material.js";

/** How often the files' mtimes are compared, by default. */
export const DEFAULT_FILE_POLL_MS = 2_000;

export interface FileCertificateOptions {
  certFile: string;
  keyFile: string;
  logger: Logger;
  /** default DEFAULT_FILE_POLL_MS */
  pollMs?: number;
}

export class FileCertificateSource implements ListenerCertificateSource {
  readonly kind = "file" as const;
  private material: TlsMaterial;
  private materialInfo: TlsMaterialInfo;
  private readonly listeners: Array<(m: TlsMaterial) => void> = [];
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;

  /** Reads the files now; a bad pair stops start-up naming the variable. */
  constructor(private readonly opts: FileCertificateOptions) {
    this.stamp = this.fileStamp();
    let m: TlsMaterial;
    try {
      m = this.read();
    } catch (e) {
      throw SigilError.config(`SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY: ${(e as Error).message}`, "SIGIL_HTTPS_CERT");
    }
    try {
      this.materialInfo = checkTlsMaterial(m);
    } catch (e) {
      throw SigilError.config(`SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY (${opts.certFile}, ${opts.keyFile}): ${(e as Error).message}`, "SIGIL_HTTPS_CERT");
    }
    this.material = m;
  }

  current(): TlsMaterial {
    return this.material;
  }

  info(): TlsMaterialInfo {
    return this.materialInfo;
  }

  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const stamp = this.fileStamp();
      if (stamp === this.stamp) return;
      this.stamp = stamp;
      void this.reload("file changed");
    }, this.opts.pollMs ?? DEFAULT_FILE_POLL_MS);
    // the poll alone never keeps the process alive
    this.timer.unref();
  }

  reload(reason: string): Promise<boolean> {
    // one reload at a time: SIGHUP during a poll-triggered reload waits for it, then reads again
    const run = async (): Promise<boolean> => {
      let m: TlsMaterial;
      let info: TlsMaterialInfo;
      try {
        m = this.read();
        info = checkTlsMaterial(m);
      } catch (e) {
        this.opts.logger.error(
          { certFile: this.opts.certFile, keyFile: this.opts.keyFile, reason, error: (e as Error).message, serving: this.materialInfo.fingerprint256 },
          "HTTPS certificate reload failed; the previous certificate stays in service",
        );
        return false;
      }
      if (m.certPem === this.material.certPem && m.keyPem === this.material.keyPem) return true;
      this.material = m;
      this.materialInfo = info;
      for (const l of this.listeners) l(m);
      this.opts.logger.info({ reason, ...info }, "HTTPS certificate reloaded");
      return true;
    };
    const next = (this.reloading ?? Promise.resolve(true)).then(run, run);
    this.reloading = next;
    return next;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.reloading;
  }

  private read(): TlsMaterial {
    return { certPem: readText(this.opts.certFile, "certificate"), keyPem: readText(this.opts.keyFile, "key") };
  }

  /** mtime, size and inode of both files (a missing file is a state too) */
  private fileStamp(): string {
    return [this.opts.certFile, this.opts.keyFile]
      .map((f) => {
        try {
          const s = statSync(f);
          return `${s.mtimeMs}:${s.size}:${s.ino}`;
        } catch {
          return "missing";
        }
      })
      .join("|");
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the ${what} file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
