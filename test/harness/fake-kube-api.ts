import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo, isIP } from 'node:net';
import { BAN_RECORD, banRecordName } from '../../src/features/ban-sharing/record';
import { neverBannable } from '../../src/model/never-ban';

/** The collections the stand-in serves, all in one group and namespace. */
export type Resource = 'bans' | 'operatorbans' | 'fail2bannodes';
export const RESOURCES: readonly Resource[] = ['bans', 'operatorbans', 'fail2bannodes'];
const KINDS: Record<Resource, string> = { bans: 'Ban', operatorbans: 'OperatorBan', fail2bannodes: 'Fail2banNode' };

/**
 * Who a bearer token is: a fail2ban pod's ServiceAccount token carries its node; an administrator's none; the ban
 * manager (the "Manage Fail2ban" workflow, an operator) is neither.
 */
export interface Identity {
  readonly username: string;
  /** `authentication.kubernetes.io/node-name` of a pod-bound token. */
  readonly node?: string;
  /** Cluster admin: not matched by the admission policy, allowed everything. */
  readonly admin?: boolean;
  /** RBAC of the ban manager: `operatorbans` read and written, `fail2bannodes` read, nothing of `bans`. */
  readonly banManager?: boolean;
}

/** One request as the stand-in answered it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path without the query; `watch` marks a WATCH. */
  readonly path: string;
  readonly watch: boolean;
  /** The collection, when the path is one the stand-in serves. */
  readonly resource?: Resource;
  /** Object name for single-object requests (from the path, or the body of a POST). */
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
  /** Events kept per collection for WATCHes from an earlier resourceVersion. @default 1000 */
  readonly history?: number;
  /** Serve HTTPS with this certificate and key (PEM), as the real API does. @default plain HTTP */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Send a BOOKMARK on an idle WATCH this often (milliseconds). @default never */
  readonly bookmarkMs?: number;
}

interface Watcher {
  readonly res: http.ServerResponse;
  timer?: NodeJS.Timeout;
  bookmarks?: NodeJS.Timeout;
}

/** One collection's objects, event history and WATCHes; the resourceVersion counter is shared, as etcd's is. */
interface Collection {
  readonly objects: Map<string, any>;
  events: Array<{ rv: number; type: string; object: any }>;
  /** A WATCH from before this resourceVersion has missed forgotten events: 410. */
  compacted: number;
  readonly watchers: Set<Watcher>;
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
 * The Kubernetes API calls the node agent and the ban manager use, for `bans`, `operatorbans` and `fail2bannodes` in
 * one namespace, with what the cluster enforces: bearer tokens (401), RBAC (403), the Ban CRD's schema and CEL rules
 * (422; of the other two CRDs only the structural schema: their CEL rules are tested with a real evaluator), the
 * ValidatingAdmissionPolicies for the fail2ban ServiceAccount (403), conflicts (409) and expired watch versions (410).
 */
export class FakeKubeApi {
  static async start(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  /** Every request, in order of completion (a WATCH when it started; 410 for a WATCH answered with an expired event). */
  readonly requests: RecordedRequest[] = [];
  /** The stored Ban records by name (the other collections: {@link objectsOf}). */
  readonly objects = new Map<string, any>();
  private revision = 1;
  private readonly collections: Record<Resource, Collection>;
  private parked?: Array<() => void>;
  /** Answer a WATCH from a compacted resourceVersion with HTTP 410 instead of an ERROR event (both happen). */
  expiredAsStatus = false;
  readonly group: string;
  readonly namespace: string;
  readonly tokens: Record<string, Identity>;
  private readonly server: http.Server;
  private readonly base: string;
  private readonly historyLimit: number;
  private readonly bookmarkMs?: number;

  /** The certificate it serves HTTPS with, which clients trust; undefined over HTTP. */
  private readonly ca?: string;

  private constructor(options: FakeKubeApiOptions) {
    this.group = options.group;
    this.namespace = options.namespace;
    this.tokens = options.tokens;
    this.historyLimit = options.history ?? 1000;
    this.bookmarkMs = options.bookmarkMs;
    this.base = `/apis/${this.group}/v1/namespaces/${this.namespace}`;
    const collection = (objects: Map<string, any>): Collection => ({ objects, events: [], compacted: 0, watchers: new Set() });
    this.collections = { bans: collection(this.objects), operatorbans: collection(new Map()), fail2bannodes: collection(new Map()) };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
    this.ca = options.tls?.cert;
  }

  get url(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The stored objects of a collection by name. */
  objectsOf(resource: Resource): Map<string, any> {
    return this.collections[resource].objects;
  }

  /**
   * Stores an object as it is, without any check: what a buggy or hostile writer could leave behind. Its collection
   * is `resource`, else the one of its `kind` (a Ban without either). Only uid and generation are filled in if missing.
   */
  inject(object: any, resource: Resource = resourceOfKind(object.kind) ?? 'bans'): any {
    const { objects } = this.collections[resource];
    const name = object.metadata.name;
    const old = objects.get(name);
    const stored = { ...object, metadata: { uid: randomUUID(), generation: nextGeneration(old, object), ...object.metadata } };
    objects.set(name, this.emit(resource, old ? 'MODIFIED' : 'ADDED', stored));
    return objects.get(name);
  }

  /** Empty again, as if just started: no objects, no history, no requests; every WATCH ends. */
  reset(): void {
    for (const collection of Object.values(this.collections)) {
      for (const watcher of collection.watchers) watcher.res.end();
      collection.objects.clear();
      collection.events = [];
      collection.compacted = 0;
    }
    this.requests.length = 0;
    this.revision = 1;
    this.expiredAsStatus = false;
    this.parked = undefined;
  }

  /**
   * The API server's watch cache moves on: `remove` (of `resource`) disappears without an event, the history of
   * every collection is forgotten and every WATCH ends, so a WATCH from an earlier resourceVersion gets 410 and only a
   * new LIST shows the change.
   */
  expire(remove: string[] = [], resource: Resource = 'bans'): void {
    remove.forEach((name) => this.collections[resource].objects.delete(name));
    this.revision++;
    this.forgetHistory();
    for (const watcher of this.allWatchers()) watcher.res.end();
  }

  /** The path of an object, or of the collection. */
  path(name?: string, resource: Resource = 'bans'): string {
    return name ? `${this.base}/${resource}/${name}` : `${this.base}/${resource}`;
  }

  /** The agents' writes (POST, PUT, DELETE; admitted or not) of one collection, optionally only those with one node's token. */
  writes(node?: string, resource: Resource = 'bans'): RecordedRequest[] {
    return this.requests.filter(
      (r) => !r.fromTest && r.resource === resource && WRITE_METHODS.has(r.method) && (node === undefined || r.identity?.node === node),
    );
  }

  /** A request as a client would make it (for forged or administrative requests); body parsed when JSON. */
  call(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
    const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', 'x-from-test': '1' };
    // Over HTTPS the client trusts the stand-in's own certificate, as kubectl and the agents do.
    const request = this.ca ? https.request(`${this.url}${path}`, { method, headers, ca: this.ca }) : http.request(`${this.url}${path}`, { method, headers });
    return new Promise((resolve, reject) => {
      request.on('error', reject);
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }));
      });
      request.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Ends every WATCH with a 410 event, as when the API server's watch cache moved on; new WATCHes wait for resume. */
  expireWatches(): void {
    this.parked = [];
    for (const watcher of this.allWatchers()) watcher.res.end(`${JSON.stringify({ type: 'ERROR', object: expired(this.revision) })}\n`);
  }

  /** How many WATCHes (of any collection) wait for {@link resumeWatches}. */
  get waitingWatches(): number {
    return this.parked?.length ?? 0;
  }

  /** Forgets the event history (a WATCH from any earlier resourceVersion gets 410), then answers the waiting WATCHes. */
  resumeWatches(): void {
    const parked = this.parked ?? [];
    this.parked = undefined;
    this.forgetHistory();
    parked.forEach((answer) => answer());
  }

  async close(): Promise<void> {
    for (const watcher of this.allWatchers()) {
      clearTimeout(watcher.timer);
      clearInterval(watcher.bookmarks);
      watcher.res.end();
    }
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private allWatchers(): Watcher[] {
    return Object.values(this.collections).flatMap((collection) => [...collection.watchers]);
  }

  private forgetHistory(): void {
    for (const collection of Object.values(this.collections)) {
      collection.events = [];
      collection.compacted = this.revision;
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const identity = this.tokens[token ?? ''];
    const query = Object.fromEntries(url.searchParams);
    const [, segment, rest] = /^([^/]+)(?:\/(.*))?$/.exec(url.pathname.startsWith(`${this.base}/`) ? url.pathname.slice(this.base.length + 1) : '') ?? [];
    const resource = RESOURCES.find((r) => r === segment);
    let name = resource ? rest : undefined;
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
        this.requests.push({ method, path: url.pathname, watch, resource, name, identity, fromTest: req.headers['x-from-test'] === '1', status, at: Date.now(), query, token, body: parsed });
      try {
        if (!identity) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
        const served = resource !== undefined && (name === undefined || !name.includes('/'));
        const object = body ? JSON.parse(body) : undefined;
        if (method === 'POST' && name === undefined) name = object?.metadata?.name;
        const verb = verbOf(method, name, watch);
        if (!identity.admin && (!served || !verb || !allowed(identity, resource!, verb, this.namespace))) {
          throw new ApiError(403, 'Forbidden', `${identity.username} cannot ${verb ?? method} ${url.pathname}`);
        }
        if (!served) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
        if (watch && method === 'GET' && name === undefined) {
          const answer = () => record(this.watch(res, resource, url));
          if (this.parked) this.parked.push(answer);
          else answer();
        } else {
          record(this.respond(res, resource, method, name, object, identity, url.searchParams));
        }
      } catch (error) {
        const e = error instanceof ApiError ? error : new ApiError(400, 'BadRequest', String(error));
        send(res, e.code, statusObject(e.code, e.reason, e.message));
        record(e.code);
      }
    });
  }

  /** LIST and the single-object requests; returns the status sent. */
  private respond(res: http.ServerResponse, resource: Resource, method: string, name: string | undefined, object: any, identity: Identity, query: URLSearchParams): number {
    const { objects } = this.collections[resource];
    const old = name ? objects.get(name) : undefined;
    const qualified = `${resource}.${this.group}`;
    if (method === 'GET' && name === undefined) {
      send(res, 200, this.list(resource, query));
      return 200;
    }
    if (method === 'GET') {
      if (!old) throw notFound(resource, name!);
      send(res, 200, old);
      return 200;
    }
    if (method === 'DELETE') {
      if (!old) throw notFound(resource, name!);
      this.admit(resource, 'DELETE', identity, undefined, old);
      const preconditions = object?.preconditions ?? {};
      if (['uid', 'resourceVersion'].some((key) => preconditions[key] !== undefined && preconditions[key] !== old.metadata[key])) {
        throw new ApiError(409, 'Conflict', `Precondition failed for ${qualified} "${name}"`);
      }
      objects.delete(name!);
      const deleted = this.emit(resource, 'DELETED', { ...old, metadata: { ...old.metadata } });
      send(res, 200, deleted);
      return 200;
    }
    if (method !== 'POST' && method !== 'PUT') throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    if (method === 'PUT' && !old) throw notFound(resource, name!);
    if (!object || typeof object !== 'object') throw new ApiError(400, 'BadRequest', `the body must be a ${KINDS[resource]} object`);
    if (method === 'PUT' && object.metadata?.name !== name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name in the URL');
    VALIDATE[resource](object);
    this.admit(resource, method === 'POST' ? 'CREATE' : 'UPDATE', identity, object, old);
    if (method === 'POST' && old) throw new ApiError(409, 'AlreadyExists', `${qualified} "${name}" already exists`);
    const version = object.metadata?.resourceVersion;
    if (method === 'PUT' && version !== undefined && version !== old.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const stored = {
      apiVersion: `${this.group}/v1`,
      kind: KINDS[resource],
      ...(object.spec !== undefined && { spec: object.spec }),
      ...(object.status !== undefined && { status: object.status }),
      metadata: {
        ...object.metadata,
        namespace: this.namespace,
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: nextGeneration(old, object),
      },
    };
    objects.set(name!, this.emit(resource, old ? 'MODIFIED' : 'ADDED', stored));
    send(res, old ? 200 : 201, objects.get(name!));
    return old ? 200 : 201;
  }

  /**
   * A LIST, a page of `limit` objects at a time when asked (in name order; `continue` names the last one sent and the
   * resourceVersion of the first page, which every page reports, as the API server's pages share one snapshot).
   */
  private list(resource: Resource, query: URLSearchParams): object {
    const { objects } = this.collections[resource];
    const limit = Number(query.get('limit') ?? '0');
    const token = query.get('continue');
    const from = token ? JSON.parse(Buffer.from(token, 'base64url').toString()) : { after: '', rv: this.revision };
    const names = [...objects.keys()].sort().filter((name) => name > from.after);
    const page = limit > 0 ? names.slice(0, limit) : names;
    const more = page.length < names.length;
    const metadata = { resourceVersion: String(from.rv), ...(more && { continue: Buffer.from(JSON.stringify({ after: page.at(-1), rv: from.rv })).toString('base64url') }) };
    return { kind: `${KINDS[resource]}List`, apiVersion: `${this.group}/v1`, metadata, items: page.map((name) => objects.get(name)) };
  }

  /**
   * The ValidatingAdmissionPolicies of the fail2ban ServiceAccount (administrators and the ban manager are not
   * matched; RBAC keeps the ServiceAccount from writing `operatorbans`).
   */
  private admit(resource: Resource, operation: 'CREATE' | 'UPDATE' | 'DELETE', identity: Identity, object: any, old: any): void {
    if (identity.admin || identity.banManager) return;
    const deny = (message: string) => new ApiError(403, 'Forbidden', `ValidatingAdmissionPolicy denied request: ${message}`);
    const node = identity.node ?? '';
    if (node === '') throw deny('the token carries no node name');
    if (resource === 'fail2bannodes') {
      if (object.metadata?.name !== node || object.status?.node !== node) throw deny('a node may only write its own Fail2banNode (metadata.name and status.node)');
      if ((object.metadata?.finalizers ?? []).length > 0) throw deny('a node may not add finalizers');
      return;
    }
    if (operation !== 'DELETE' && object.spec.node !== node) throw deny('a node may only write its own records (spec.node)');
    if (operation !== 'DELETE' && (object.metadata?.finalizers ?? []).length > 0) throw deny('a node may not add finalizers');
    if (operation === 'DELETE' && old.spec.node !== node) throw deny('a node may only delete its own records');
    if (operation === 'UPDATE') {
      if (['ip', 'jail', 'node'].some((key) => object.spec[key] !== old.spec[key])) throw deny('ip, jail and node of a record never change');
      const end = (o: any) => Date.parse(o.spec.bannedAt) + o.spec.banTime * 1000;
      if (object.spec.banTime !== -1 && (old.spec.banTime === -1 || end(object) < end(old))) throw deny('an update may only extend a ban');
    }
  }

  /** Stores an event with the next resourceVersion and sends it to the collection's watchers; returns the object. */
  private emit(resource: Resource, type: string, object: any): any {
    const collection = this.collections[resource];
    object.metadata.resourceVersion = String(++this.revision);
    collection.events.push({ rv: this.revision, type, object });
    if (collection.events.length > this.historyLimit) {
      const dropped = collection.events.splice(0, collection.events.length - this.historyLimit);
      collection.compacted = dropped.at(-1)!.rv;
    }
    for (const watcher of collection.watchers) watcher.res.write(`${JSON.stringify({ type, object })}\n`);
    return object;
  }

  /** WATCH from a resourceVersion: the events after it, then new ones as they happen; a 410 event if it is too old. */
  private watch(res: http.ServerResponse, resource: Resource, url: URL): number {
    const collection = this.collections[resource];
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from < collection.compacted) {
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
    const backlog = from > 0 ? collection.events.filter((e) => e.rv > from) : [...collection.objects.values()].map((object) => ({ type: 'ADDED', object }));
    for (const event of backlog) res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    const watcher: Watcher = { res };
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) watcher.timer = setTimeout(() => res.end(), timeout * 1000);
    if (this.bookmarkMs !== undefined && url.searchParams.get('allowWatchBookmarks') === 'true') {
      const bookmark = { kind: KINDS[resource], apiVersion: `${this.group}/v1`, metadata: {} as Record<string, string> };
      watcher.bookmarks = setInterval(() => {
        bookmark.metadata.resourceVersion = String(this.revision);
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: bookmark })}\n`);
      }, this.bookmarkMs);
    }
    collection.watchers.add(watcher);
    res.on('close', () => {
      clearTimeout(watcher.timer);
      clearInterval(watcher.bookmarks);
      collection.watchers.delete(watcher);
    });
    return 200;
  }
}

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete';

function verbOf(method: string, name: string | undefined, watch: boolean): Verb | undefined {
  if (method === 'GET') return name !== undefined ? 'get' : watch ? 'watch' : 'list';
  return ({ POST: 'create', PUT: 'update', DELETE: 'delete' } as Record<string, Verb>)[method];
}

/** The Roles: what each kind of identity may do to a collection (administrators may do everything). */
function allowed(identity: Identity, resource: Resource, verb: Verb, namespace: string): boolean {
  const read = verb === 'get' || verb === 'list' || verb === 'watch';
  if (identity.banManager) return resource === 'operatorbans' || (resource === 'fail2bannodes' && read);
  if (identity.username !== SERVICE_ACCOUNT(namespace)) return false;
  if (resource === 'bans') return true;
  if (resource === 'operatorbans') return read;
  return verb !== 'delete';
}

function resourceOfKind(kind: unknown): Resource | undefined {
  return RESOURCES.find((resource) => KINDS[resource] === kind);
}

/** 1 for a new object; one more on every write that changes `spec`, as the API server counts for a CRD with status. */
function nextGeneration(old: any, object: any): number {
  if (!old) return 1;
  const generation = old.metadata.generation ?? 1;
  return stableJson(old.spec) === stableJson(object.spec) ? generation : generation + 1;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${stableJson((value as any)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function notFound(resource: Resource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${resource} "${name}" not found`);
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

const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const isDateTime = (value: unknown) => typeof value === 'string' && DATE_TIME.test(value) && !Number.isNaN(Date.parse(value));

/** The API server's rule for names: the problem with `object`'s, or none. */
function nameProblems(object: any): string[] {
  const name = object.metadata?.name;
  return typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name) ? [`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain`] : [];
}

function throwInvalid(kind: string, object: any, problems: string[]): void {
  if (problems.length > 0) throw new ApiError(422, 'Invalid', `${kind} "${object.metadata?.name}" is invalid: ${problems.join('; ')}`);
}

/** Each collection's checks of a written object. */
const VALIDATE: Record<Resource, (object: any) => void> = {
  bans: validate,
  operatorbans: validateOperatorBan,
  fail2bannodes: (object) => throwInvalid('Fail2banNode', object, [...nameProblems(object), ...(object.status === undefined || isObject(object.status) ? [] : ['status: must be an object'])]),
};

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An OperatorBan's structural schema only: its CEL rules (canonical address, never-ban, the name, `expires` only with
 * `ban`) and the jail enum are left to the tests that run the CRD's CEL, so an order they refuse can still be stored
 * here, as the agent must expect of a CRD older than its configuration.
 */
function validateOperatorBan(object: any): void {
  const problems = nameProblems(object);
  const spec = object.spec;
  if (!isObject(spec)) {
    problems.push('spec: Required value');
  } else {
    for (const key of ['jail', 'ip', 'action', 'orderedAt']) if (spec[key] === undefined) problems.push(`spec.${key}: Required value`);
    for (const key of ['jail', 'ip']) if (spec[key] !== undefined && typeof spec[key] !== 'string') problems.push(`spec.${key}: Invalid value: must be a string`);
    if (spec.action !== undefined && !['ban', 'unban'].includes(spec.action)) problems.push(`spec.action: Unsupported value: ${JSON.stringify(spec.action)}`);
    for (const key of ['orderedAt', 'expires']) if (spec[key] !== undefined && !isDateTime(spec[key])) problems.push(`spec.${key}: Invalid value: ${JSON.stringify(spec[key])}`);
    if (spec.reason !== undefined && (typeof spec.reason !== 'string' || spec.reason.length > 256)) problems.push('spec.reason: Invalid value: at most 256 characters');
  }
  throwInvalid('OperatorBan', object, problems);
}

/** The CRD's structural schema and its CEL rules (BAN_RECORD_RULES), and the API server's rule for names. */
function validate(object: any): void {
  const problems = nameProblems(object);
  const name = object.metadata?.name;
  const spec = object.spec;
  if (!spec || typeof spec !== 'object') {
    problems.push('spec: Required value');
  } else {
    for (const key of BAN_RECORD.spec.required) if (spec[key] === undefined) problems.push(`spec.${key}: Required value`);
    // The structural schema, as the contract (agent/ban_record.json) writes it.
    for (const [key, rule] of Object.entries(BAN_RECORD.spec.properties) as Array<[string, any]>) {
      const value = spec[key];
      const invalid =
        (rule.type === 'string' && (typeof value !== 'string' || value.length > rule.maxLength || (rule.pattern && !new RegExp(rule.pattern).test(value)))) ||
        (rule.format === 'date-time' && !isDateTime(value)) ||
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
  throwInvalid('Ban', object, problems);
}
