// Type declarations for gort (bindings/node). See docs/node.md.

export type ChanType = 'any' | 'int64' | 'float64' | 'bytes';
export interface RecvResult<T> { value: T | undefined; ok: boolean; }
export interface SelectResult<T = unknown> { index: number; value: T | undefined; ok: boolean; }
export type SelectCase = { recv: Chan<any> | null } | { send: Chan<any> | null; value: unknown };

export class Chan<T = any> implements AsyncIterable<T> {
  constructor(cap?: number, type?: ChanType);
  static fromHandle(handle: bigint, type: 'int64' | 'float64' | 'bytes'): Chan<any>;
  send(value: T): Promise<void>;
  recv(): Promise<RecvResult<T>>;
  trySend(value: T): boolean;
  tryRecv(): RecvResult<T> | undefined;
  close(): void;
  readonly length: number;
  readonly capacity: number;
  readonly type: ChanType;
  readonly handle: bigint;
  [Symbol.asyncIterator](): AsyncIterator<T>;
}

export function select<T = unknown>(cases: SelectCase[], options?: { timeout?: number; default?: boolean }): Promise<SelectResult<T>>;
export function sleep(ms: number): Promise<void>;
export function after(ms: number): Chan<number>;
export class Ticker { constructor(ms: number); readonly chan: Chan<number>; stop(): void; }

export class WaitGroup { add(n?: number): void; done(): void; wait(): Promise<void>; }
export class Mutex { lock(): Promise<void>; tryLock(): boolean; unlock(): void; }

declare class GortPromise<T> implements PromiseLike<T> {
  constructor(executor: (resolve: (value: T | PromiseLike<T>) => void, reject: (reason?: any) => void) => void);
  then<R1 = T, R2 = never>(onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null): GortPromise<R1 | R2>;
  catch<R = never>(onRejected?: ((reason: any) => R | PromiseLike<R>) | null): GortPromise<T | R>;
  finally(onFinally?: (() => void) | null): GortPromise<T>;
  readonly handle: bigint;
  static resolve(): GortPromise<void>;
  static resolve<T>(value: T | PromiseLike<T>): GortPromise<Awaited<T>>;
  static reject<T = never>(reason?: any): GortPromise<T>;
  static all<T extends readonly unknown[] | []>(values: T): GortPromise<{ -readonly [P in keyof T]: Awaited<T[P]> }>;
  static allSettled<T extends readonly unknown[] | []>(values: T): GortPromise<{ -readonly [P in keyof T]: PromiseSettledResult<Awaited<T[P]>> }>;
  static race<T extends readonly unknown[] | []>(values: T): GortPromise<Awaited<T[number]>>;
  static any<T extends readonly unknown[] | []>(values: T): GortPromise<Awaited<T[number]>>;
  static fromHandle(handle: bigint): GortPromise<unknown>;
}
export { GortPromise as Promise };
export function fromHandle(handle: bigint): GortPromise<unknown>;

export interface NativeFunction {
  /** A variadic function takes its fixed arguments, then a (C type, value) pair per variadic argument. */
  (...args: unknown[]): any;
  /** The call on gort's parallel pool; Buffers/TypedArrays passed stay alive until it settles. */
  async(...args: unknown[]): GortPromise<any>;
  readonly name: string;
  readonly length: number;
}
export interface NativeLibrary { readonly path: string; func(decl: string): NativeFunction; }
export function native(path: string): NativeLibrary;

export function procs(): number;
export function goroutines(): number;
export const errors: { readonly [code: string]: number };
export const version: string;

declare const gort: {
  Chan: typeof Chan; select: typeof select; sleep: typeof sleep; after: typeof after; Ticker: typeof Ticker;
  WaitGroup: typeof WaitGroup; Mutex: typeof Mutex; Promise: typeof GortPromise; fromHandle: typeof fromHandle;
  native: typeof native;
  procs: typeof procs; goroutines: typeof goroutines; errors: typeof errors; version: string;
};
export default gort;
