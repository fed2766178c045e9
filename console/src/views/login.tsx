import { useEffect, useState } from "preact/hooks";
import { beginSso, completeSso, isSsoReturn, login } from "../api.js";
import { describeError } from "../errors.js";

export function Login() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [organization, setOrganization] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [ssoBusy, setSsoBusy] = useState(isSsoReturn());

  // back from the identity provider (docs/sso.md §5): complete the sign-in once
  useEffect(() => {
    if (!isSsoReturn()) return;
    completeSso().catch((err) => {
      setError(describeError(err));
      setSsoBusy(false);
    });
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await login(username, password);
    } catch (err) {
      setError(describeError(err));
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  const sso = async (e: Event) => {
    e.preventDefault();
    setSsoBusy(true);
    setError("");
    try {
      await beginSso(organization);
      // the browser is leaving for the provider
    } catch (err) {
      setError(describeError(err));
      setSsoBusy(false);
    }
  };
  return (
    <div class="login">
      <div class="login-forms">
        <form onSubmit={submit} aria-label="Log in">
          <h1>Sigil console</h1>
          <label>
            Username
            <input name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
          </label>
          <label>
            Password
            <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={busy || ssoBusy}>
            {busy ? "Logging in…" : "Log in"}
          </button>
        </form>
        <form onSubmit={sso} aria-label="Sign in with SSO">
          <label>
            Organization
            <input name="organization" placeholder="organization slug" required value={organization} onInput={(e) => setOrganization(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={busy || ssoBusy}>
            {ssoBusy ? "Signing in…" : "Sign in with SSO"}
          </button>
        </form>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
