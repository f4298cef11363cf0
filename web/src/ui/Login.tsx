import { useState } from "preact/hooks";
import { api, ApiError } from "../api";

export function Login({ onLogin, notice }: { onLogin: (lastSeq: number | undefined) => void; notice?: string }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { last_seq } = await api.login(user.trim(), password);
      onLogin(last_seq);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "Wrong user name or password."
          : err instanceof Error
            ? err.message
            : String(err),
      );
      setBusy(false);
    }
  }

  return (
    <main class="login">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">
          <span class="brand-dot" aria-hidden="true" /> fightwatch
        </h1>
        <p class="muted">Sign in to the alert console.</p>
        {notice && <p class="notice">{notice}</p>}
        <label>
          User name
          <input
            name="user"
            autoComplete="username"
            required
            autoFocus
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <div class="form-error" role="alert" aria-live="assertive">
          {error}
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
