import { addressObjectName } from '../model/address-name';
import { ApiReach, ClusterError, operatorBanPath, rawCall } from './api';
import { BanAction, ChangeCommand } from './args';

/** `spec` of an `OperatorBan` (docs/operator-bans.md). */
export interface OrderSpec {
  readonly jail: string;
  readonly ip: string;
  readonly action: BanAction;
  readonly orderedAt: string;
  /** A ban's end; a ban without it is permanent. */
  readonly expires?: string;
  readonly reason?: string;
}

/** An order as the API stored it. */
export interface WrittenOrder {
  readonly name: string;
  /** `metadata.uid` of the object written: a node's report of another object of the same name is not about this one. */
  readonly uid: string;
  /** `metadata.generation` after the write: a node has applied the order once it reports this one or a later one. */
  readonly generation: number;
  /** POST (there was no order for this address in this jail yet), or PUT over the existing one. */
  readonly created: boolean;
  readonly spec: OrderSpec;
}

/** Another writer (a second run, Flux, an administrator) may come in between a GET and its write, a few times. */
const MAX_WRITE_ATTEMPTS = 5;

/** RFC 3339 in UTC, whole seconds: the form the CRD's `date-time` and the agents' comparisons expect. */
function timestamp(milliseconds: number): string {
  return new Date(Math.floor(milliseconds / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The spec a command writes, ordered at `now`. */
function orderSpec(command: ChangeCommand, now: number): OrderSpec {
  const orderedAt = timestamp(now);
  const seconds = command.banSeconds ?? -1;
  return {
    jail: command.jail,
    ip: command.address,
    action: command.kind,
    orderedAt,
    ...(command.kind === 'ban' && seconds >= 0 && { expires: timestamp(Date.parse(orderedAt) + seconds * 1000) }),
    ...(command.reason !== undefined && { reason: command.reason }),
  };
}

/** The order's name: one object per (jail, address), ban and unban alike, named by the rule of the ledger records. */
function orderName(command: ChangeCommand): string {
  return addressObjectName(command.jail, command.address);
}

async function readOrder(reach: ApiReach, name: string): Promise<any> {
  try {
    return await rawCall(reach, 'get', operatorBanPath(reach, name));
  } catch (error) {
    if (error instanceof ClusterError && error.reason === 'NotFound') {
      return undefined;
    }
    throw error;
  }
}

/**
 * Creates the order, or replaces the existing one with its resourceVersion: a write between our read and ours is
 * never overwritten unseen, it is read again and this order goes on top of it.
 */
export async function writeOrder(reach: ApiReach, command: ChangeCommand, now: number): Promise<WrittenOrder> {
  const name = orderName(command);
  const spec = orderSpec(command, now);
  const identity = { apiVersion: `${reach.group}/v1`, kind: 'OperatorBan' };
  for (let attempt = 1; ; attempt++) {
    const current = await readOrder(reach, name);
    try {
      const written =
        current === undefined
          ? await rawCall(reach, 'create', operatorBanPath(reach), { ...identity, metadata: { name, namespace: reach.namespace }, spec })
          : await rawCall(reach, 'replace', operatorBanPath(reach, name), { ...identity, metadata: current.metadata, spec });
      const generation = written?.metadata?.generation;
      if (!Number.isInteger(generation) || generation < 1) {
        throw new ClusterError(`the API answered the write of OperatorBan ${name} without a metadata.generation`);
      }
      const uid = written?.metadata?.uid;
      if (typeof uid !== 'string' || uid === '') {
        throw new ClusterError(`the API answered the write of OperatorBan ${name} without a metadata.uid`);
      }
      return { name, uid, generation, created: current === undefined, spec };
    } catch (error) {
      const raced = error instanceof ClusterError && (error.reason === 'Conflict' || error.reason === 'AlreadyExists');
      if (!raced || attempt >= MAX_WRITE_ATTEMPTS) {
        throw error;
      }
    }
  }
}
