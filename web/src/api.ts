// REST calls. The login cookie (HttpOnly) authenticates every request; errors carry the
// server's own message so the console can show it.

import type {
  AlertRecord,
  AlertUpdate,
  CameraView,
  ChatMessage,
  LoginResponse,
  Me,
  PushInfo,
  PushSubscribeRequest,
  ResolveRequest,
  TimelineEntry,
  UserSummary,
} from "./generated/protocol";
import type { TuneReport } from "./tuning";

export type { Me, TimelineEntry };
/** A camera as `GET /api/cameras` lists it. */
export type CameraInfo = CameraView;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(path, { credentials: "same-origin", ...init });
  } catch {
    throw new ApiError(0, "cannot reach the fightwatch server");
  }
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const body = (await resp.json()) as { error?: string };
      if (body.error) message = body.error;
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(resp.status, message);
  }
  if (resp.status === 204) return undefined as T;
  return (await resp.json()) as T;
}

function post<T>(path: string, body?: unknown): Promise<T> {
  return request<T>(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface AlertQuery {
  camera?: string;
  status?: string;
  since?: number;
  until?: number;
  beforeSeq?: number;
  limit?: number;
}

export const api = {
  login: (user: string, password: string) =>
    post<LoginResponse>("/api/login", { user, password }),
  logout: () => post<void>("/api/logout", {}),
  me: () => request<Me>("/api/me"),
  alerts(q: AlertQuery = {}): Promise<AlertRecord[]> {
    const p = new URLSearchParams();
    if (q.camera) p.set("camera", q.camera);
    if (q.status) p.set("status", q.status);
    if (q.since !== undefined) p.set("since", String(q.since));
    if (q.until !== undefined) p.set("until", String(q.until));
    if (q.beforeSeq !== undefined) p.set("before_seq", String(q.beforeSeq));
    p.set("limit", String(q.limit ?? 50));
    return request<AlertRecord[]>(`/api/alerts?${p}`);
  },
  alert: (id: string) => request<AlertRecord>(`/api/alerts/${encodeURIComponent(id)}`),
  timeline: (id: string) => request<TimelineEntry[]>(`/api/alerts/${encodeURIComponent(id)}/events`),
  ack: (id: string, note: string) =>
    post<AlertUpdate>(`/api/alerts/${encodeURIComponent(id)}/ack`, note ? { note } : {}),
  take: (id: string) => post<AlertUpdate>(`/api/alerts/${encodeURIComponent(id)}/take`, {}),
  resolve: (id: string, body: ResolveRequest) =>
    post<AlertUpdate>(`/api/alerts/${encodeURIComponent(id)}/resolve`, body),
  cameras: () => request<CameraInfo[]>("/api/cameras"),
  users: () => request<UserSummary[]>("/api/users"),
  tune: () => request<TuneReport>("/api/tune"),
  pushInfo: () => request<PushInfo>("/api/push"),
  pushSubscribe: (sub: PushSubscribeRequest) => post<void>("/api/push/subscriptions", sub),
  pushUnsubscribe: (endpoint: string) =>
    request<void>("/api/push/subscriptions", {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint }),
    }),
  messages: (room: string, limit = 100) =>
    request<ChatMessage[]>(`/api/rooms/${encodeURIComponent(room)}/messages?limit=${limit}`),
};

/** The `/ws` URL on the page's own host. */
export function wsUrl(loc: { protocol: string; host: string } = window.location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}
