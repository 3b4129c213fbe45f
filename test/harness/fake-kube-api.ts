import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo, isIP } from 'node:net';
import { BAN_RECORD, banRecordName } from '../../src/features/ban-sharing/record';
import { neverBannable } from '../../src/model/never-ban';

/** Who a bearer token is: a fail2ban pod's ServiceAccount token carries its node; an administrator's none. */
export interface Identity {
  readonly username: string;
  /** `authentication.kubernetes.io/node-name` of a pod-bound token. */
  readonly node?: string;
  /** Cluster admin: not matched by the admission policy, allowed everything. */
  readonly admin?: boolean;
}

/** One request as the stand-in answered it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query; `watch` marks a WATCH. */
  readonly path: string;
  readonly watch: boolean;
  /** Record name for single-object requests (from the path, or the body of a POST). */
  readonly name?: string;
  readonly identity?: Identity;
  /** Made by the test through {@link FakeKubeApi.call}, not by a agent. */
  readonly fromTest: boolean;
  readonly status: number;
  readonly at: number;
  /** The query parameters. */
  readonly query: Record<string, string>;
  /** The bearer token, if any. */
  readonly token?: string;
  /** The body, parsed when JSON. */
  readonly body?: unknown;
}

/** Options of {@link FakeKubeApi.start}. */
export interface FakeKubeApiOptions {
  readonly group: string;
  readonly namespace: string;
  /** Bearer token → who it is. */
  readonly tokens: Record<string, Identity>;
  /** Events kept for WATCHes from an earlier resourceVersion. @default 1000 */
  readonly history?: number;
  /** Serve HTTPS with this certificate and key (PEM), as the real API does. @default plain HTTP */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Send a BOOKMARK on an idle WATCH this often (milliseconds). @default never */
  readonly bookmarkMs?: number;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'DELETE']);
const SERVICE_ACCOUNT = (namespace: string) => `system:serviceaccount:${namespace}:fail2ban`;
/** DNS-1123 subdomain, what the API server requires of every object name. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The canonical form of a single address (Go's netip `String()`), or undefined when it is not one. */
export function canonicalIp(ip: string): string | undefined {
  if (isIP(ip) === 4) return ip.split('.').map(Number).join('.');
  if (isIP(ip) !== 6 || ip.includes('%')) return undefined;
  try {
    const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
    // Kubernetes' CEL `isIP` refuses IPv4-mapped IPv6 addresses.
    return /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(canonical) ? undefined : canonical;
  } catch {
    return undefined;
  }
}

/**
 * The Kubernetes API calls the node agent uses, for `bans` in one namespace, with what the cluster
 * enforces: bearer tokens (401), RBAC (403), the CRD schema and CEL rules (422), the ValidatingAdmissionPolicy for
 * the fail2ban ServiceAccount (403), conflicts (409) and expired watch versions (410).
 */
export class FakeKubeApi {
  static async start(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  /** Every request, in order of completion (a WATCH when it started; 410 for a WATCH answered with an expired event). */
  readonly requests: RecordedRequest[] = [];
  /** The stored records by name. */
  readonly objects = new Map<string, any>();
  private revision = 1;
  private events: Array<{ rv: number; type: string; object: any }> = [];
  private parked?: Array<() => void>;
  /** Answer a WATCH from a compacted resourceVersion with HTTP 410 instead of an ERROR event (both happen). */
  expiredAsStatus = false;
  readonly group: string;
  readonly namespace: string;
  readonly tokens: Record<string, Identity>;
  private readonly watchers = new Set<{ res: http.ServerResponse; timer?: NodeJS.Timeout; bookmarks?: NodeJS.Timeout }>();
  private readonly server: http.Server;
  private readonly prefix: string;
  private readonly historyLimit: number;
  private readonly bookmarkMs?: number;

  private constructor(options: FakeKubeApiOptions) {
    this.group = options.group;
    this.namespace = options.namespace;
    this.tokens = options.tokens;
    this.historyLimit = options.history ?? 1000;
    this.bookmarkMs = options.bookmarkMs;
    this.prefix = `/apis/${this.group}/v1/namespaces/${this.namespace}/bans`;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  }

  get url(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stores a record as it is, without any check: what a buggy or hostile writer could leave in the ledger. */
  inject(object: any): any {
    const name = object.metadata.name;
    const stored = { ...object, metadata: { uid: randomUUID(), ...object.metadata } };
    this.objects.set(name, this.emit(this.objects.has(name) ? 'MODIFIED' : 'ADDED', stored));
    return this.objects.get(name);
  }

  /** Empty again, as if just started: no records, no history, no requests; every WATCH ends. */
  reset(): void {
    for (const watcher of this.watchers) watcher.res.end();
    this.objects.clear();
    this.requests.length = 0;
    this.events = [];
    this.revision = 1;
    this.expiredAsStatus = false;
    this.parked = undefined;
  }

  /**
   * The API server's watch cache moves on: `remove` disappears without an event, the history is forgotten and
   * every WATCH ends, so a WATCH from an earlier resourceVersion gets 410 and only a new LIST shows the change.
   */
  expire(remove: string[] = []): void {
    remove.forEach((name) => this.objects.delete(name));
    this.revision++;
    this.events = [];
    for (const watcher of this.watchers) watcher.res.end();
  }

  /** The path of a record, or of the collection. */
  path(name?: string): string {
    return name ? `${this.prefix}/${name}` : this.prefix;
  }

  /** The agents' writes (POST, PUT, DELETE; admitted or not), optionally only those with one node's token. */
  writes(node?: string): RecordedRequest[] {
    return this.requests.filter((r) => !r.fromTest && WRITE_METHODS.has(r.method) && (node === undefined || r.identity?.node === node));
  }

  /** A request as a client would make it (for forged or administrative requests); body parsed when JSON. */
  async call(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', 'x-from-test': '1' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  }

  /** Ends every WATCH with a 410 event, as when the API server's watch cache moved on; new WATCHes wait for resume. */
  expireWatches(): void {
    this.parked = [];
    for (const watcher of this.watchers) watcher.res.end(`${JSON.stringify({ type: 'ERROR', object: expired(this.revision) })}\n`);
  }

  /** How many WATCHes wait for {@link resumeWatches}. */
  get waitingWatches(): number {
    return this.parked?.length ?? 0;
  }

  /** Forgets the event history (a WATCH from any earlier resourceVersion gets 410), then answers the waiting WATCHes. */
  resumeWatches(): void {
    const parked = this.parked ?? [];
    this.parked = undefined;
    this.events = [];
    parked.forEach((answer) => answer());
  }

  async close(): Promise<void> {
    for (const watcher of this.watchers) {
      clearTimeout(watcher.timer);
      clearInterval(watcher.bookmarks);
      watcher.res.end();
    }
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const identity = this.tokens[token ?? ''];
    const query = Object.fromEntries(url.searchParams);
    let name = url.pathname.startsWith(`${this.prefix}/`) ? url.pathname.slice(this.prefix.length + 1) : undefined;
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      let parsed: unknown;
      try {
        parsed = body ? JSON.parse(body) : undefined;
      } catch {
        parsed = body;
      }
      const record = (status: number) =>
        this.requests.push({ method, path: url.pathname, watch, name, identity, fromTest: req.headers['x-from-test'] === '1', status, at: Date.now(), query, token, body: parsed });
      try {
        if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
        // RBAC: the ServiceAccount may use `bans` in its namespace, nothing else; there are no other users.
        const inNamespace = url.pathname === this.prefix || (name !== undefined && !name.includes('/'));
        if (!identity.admin && (!inNamespace || identity.username !== SERVICE_ACCOUNT(this.namespace))) {
          throw new ApiError(403, 'Forbidden', `${identity.username} cannot ${method} ${url.pathname}`);
        }
        if (!inNamespace) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        const object = body ? JSON.parse(body) : undefined;
        if (method === 'POST' && name === undefined) name = object?.metadata?.name;
        if (watch && method === 'GET' && url.pathname === this.prefix) {
          const answer = () => record(this.watch(res, url));
          if (this.parked) this.parked.push(answer);
          else answer();
        } else {
          record(this.respond(res, method, name, object, identity, url.searchParams));
        }
      } catch (error) {
        const e = error instanceof ApiError ? error : new ApiError(400, 'BadRequest', String(error));
        send(res, e.code, statusObject(e.code, e.reason, e.message));
        record(e.code);
      }
    });
  }

  /** LIST and the single-object requests; returns the status sent. */
  private respond(res: http.ServerResponse, method: string, name: string | undefined, object: any, identity: Identity, query: URLSearchParams): number {
    const old = name ? this.objects.get(name) : undefined;
    if (method === 'GET' && name === undefined) {
      send(res, 200, this.list(query));
      return 200;
    }
    if (method === 'GET') {
      if (!old) throw notFound(name!);
      send(res, 200, old);
      return 200;
    }
    if (method === 'DELETE') {
      if (!old) throw notFound(name!);
      this.admit('DELETE', identity, undefined, old);
      const preconditions = object?.preconditions ?? {};
      if (['uid', 'resourceVersion'].some((key) => preconditions[key] !== undefined && preconditions[key] !== old.metadata[key])) {
        throw new ApiError(409, 'Conflict', `Precondition failed for bans.${this.group} "${name}"`);
      }
      this.objects.delete(name!);
      const deleted = this.emit('DELETED', { ...old, metadata: { ...old.metadata } });
      send(res, 200, deleted);
      return 200;
    }
    if (method !== 'POST' && method !== 'PUT') throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    if (method === 'PUT' && !old) throw notFound(name!);
    if (!object || typeof object !== 'object') throw new ApiError(400, 'BadRequest', 'the body must be a Ban object');
    if (method === 'PUT' && object.metadata?.name !== name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name in the URL');
    validate(object);
    this.admit(method === 'POST' ? 'CREATE' : 'UPDATE', identity, object, old);
    if (method === 'POST' && old) throw new ApiError(409, 'AlreadyExists', `bans.${this.group} "${name}" already exists`);
    const version = object.metadata?.resourceVersion;
    if (method === 'PUT' && version !== undefined && version !== old.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on bans.${this.group} "${name}": the object has been modified`);
    }
    const stored = {
      apiVersion: `${this.group}/v1`,
      kind: 'Ban',
      spec: object.spec,
      metadata: {
        ...object.metadata,
        namespace: this.namespace,
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
    this.objects.set(name!, this.emit(old ? 'MODIFIED' : 'ADDED', stored));
    send(res, old ? 200 : 201, this.objects.get(name!));
    return old ? 200 : 201;
  }

  /**
   * A LIST, a page of `limit` records at a time when asked (in name order; `continue` names the last one sent and the
   * resourceVersion of the first page, which every page reports, as the API server's pages share one snapshot).
   */
  private list(query: URLSearchParams): object {
    const limit = Number(query.get('limit') ?? '0');
    const token = query.get('continue');
    const from = token ? JSON.parse(Buffer.from(token, 'base64url').toString()) : { after: '', rv: this.revision };
    const names = [...this.objects.keys()].sort().filter((name) => name > from.after);
    const page = limit > 0 ? names.slice(0, limit) : names;
    const more = page.length < names.length;
    const metadata = { resourceVersion: String(from.rv), ...(more && { continue: Buffer.from(JSON.stringify({ after: page.at(-1), rv: from.rv })).toString('base64url') }) };
    return { kind: 'BanList', apiVersion: `${this.group}/v1`, metadata, items: page.map((name) => this.objects.get(name)) };
  }

  /** The ValidatingAdmissionPolicy of the fail2ban ServiceAccount (administrators are not matched). */
  private admit(operation: 'CREATE' | 'UPDATE' | 'DELETE', identity: Identity, object: any, old: any): void {
    if (identity.admin) return;
    const deny = (message: string) => new ApiError(403, 'Forbidden', `ValidatingAdmissionPolicy denied request: ${message}`);
    const node = identity.node ?? '';
    if (node === '') throw deny('the token carries no node name');
    if (operation !== 'DELETE' && object.spec.node !== node) throw deny('a node may only write its own records (spec.node)');
    if (operation !== 'DELETE' && (object.metadata?.finalizers ?? []).length > 0) throw deny('a node may not add finalizers');
    if (operation === 'DELETE' && old.spec.node !== node) throw deny('a node may only delete its own records');
    if (operation === 'UPDATE') {
      if (['ip', 'jail', 'node'].some((key) => object.spec[key] !== old.spec[key])) throw deny('ip, jail and node of a record never change');
      const end = (o: any) => Date.parse(o.spec.bannedAt) + o.spec.banTime * 1000;
      if (object.spec.banTime !== -1 && (old.spec.banTime === -1 || end(object) < end(old))) throw deny('an update may only extend a ban');
    }
  }

  /** Stores an event with the next resourceVersion and sends it to every watcher; returns the object. */
  private emit(type: string, object: any): any {
    object.metadata.resourceVersion = String(++this.revision);
    this.events.push({ rv: this.revision, type, object });
    this.events = this.events.slice(-this.historyLimit);
    for (const watcher of this.watchers) watcher.res.write(`${JSON.stringify({ type, object })}\n`);
    return object;
  }

  /** WATCH from a resourceVersion: the events after it, then new ones as they happen; a 410 event if it is too old. */
  private watch(res: http.ServerResponse, url: URL): number {
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from < this.revision && (this.events.length === 0 || this.events[0].rv > from + 1)) {
      if (this.expiredAsStatus) {
        send(res, 410, expired(from));
        return 410;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: expired(from) })}\n`);
      return 410;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // as the API server does: the client has its response before the first event
    const backlog = from > 0 ? this.events.filter((e) => e.rv > from) : [...this.objects.values()].map((object) => ({ type: 'ADDED', object }));
    for (const event of backlog) res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    const watcher: { res: http.ServerResponse; timer?: NodeJS.Timeout; bookmarks?: NodeJS.Timeout } = { res };
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) watcher.timer = setTimeout(() => res.end(), timeout * 1000);
    if (this.bookmarkMs !== undefined && url.searchParams.get('allowWatchBookmarks') === 'true') {
      const bookmark = { kind: 'Ban', apiVersion: `${this.group}/v1`, metadata: {} as Record<string, string> };
      watcher.bookmarks = setInterval(() => {
        bookmark.metadata.resourceVersion = String(this.revision);
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: bookmark })}\n`);
      }, this.bookmarkMs);
    }
    this.watchers.add(watcher);
    res.on('close', () => {
      clearTimeout(watcher.timer);
      clearInterval(watcher.bookmarks);
      this.watchers.delete(watcher);
    });
    return 200;
  }
}

function notFound(name: string): ApiError {
  return new ApiError(404, 'NotFound', `bans "${name}" not found`);
}

function expired(resourceVersion: number) {
  return statusObject(410, 'Expired', `too old resource version: ${resourceVersion}`);
}

function statusObject(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The CRD's structural schema and its CEL rules (BAN_RECORD_RULES), and the API server's rule for names. */
function validate(object: any): void {
  const problems: string[] = [];
  const name = object.metadata?.name;
  const spec = object.spec;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) problems.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain`);
  if (!spec || typeof spec !== 'object') {
    problems.push('spec: Required value');
  } else {
    for (const key of BAN_RECORD.spec.required) if (spec[key] === undefined) problems.push(`spec.${key}: Required value`);
    // The structural schema, as the contract (agent/ban_record.json) writes it.
    for (const [key, rule] of Object.entries(BAN_RECORD.spec.properties) as Array<[string, any]>) {
      const value = spec[key];
      const invalid =
        (rule.type === 'string' && (typeof value !== 'string' || value.length > rule.maxLength || (rule.pattern && !new RegExp(rule.pattern).test(value)))) ||
        (rule.format === 'date-time' && (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) || Number.isNaN(Date.parse(value)))) ||
        (rule.type === 'integer' && (!Number.isInteger(value) || value < rule.minimum));
      if (invalid) problems.push(`spec.${key}: Invalid value: ${JSON.stringify(value)}`);
    }
    // The CRD's CEL rules.
    if (typeof spec.ip !== 'string' || canonicalIp(spec.ip) !== spec.ip) problems.push('spec: ip must be one address in canonical form');
    else if (neverBannable(spec.ip)) problems.push('spec: ip is an address no ban may hold');
    if (typeof spec.jail === 'string' && typeof spec.ip === 'string' && name !== banRecordName(spec.jail, spec.ip, spec.node)) {
      problems.push('the name must be <jail>.v4-a-b-c-d.<node> or <jail>.v6-<address with - for :>.<node>');
    }
  }
  if (problems.length > 0) throw new ApiError(422, 'Invalid', `Ban "${name}" is invalid: ${problems.join('; ')}`);
}
