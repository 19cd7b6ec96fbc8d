/**
 * Base of Cleave's error classes: a message for people, a machine-readable `code` for programs,
 * and ErrorOptions so causes chain. Subclasses only set `name` and narrow the code type.
 */
export class CodedError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A type guard for one {@link CodedError} class, optionally narrowed to one of its codes. */
export type CodedErrorGuard<E extends CodedError> = (error: unknown, code?: E['code']) => error is E;

/**
 * Errors of the same class from another copy of the package that defines it (two installed versions in one
 * process): they fail `instanceof`, so a guard may also accept an Error with this `name` and one of these codes.
 */
export interface LookAlikeErrors<C extends string> {
  readonly name: string;
  readonly codes: Readonly<Record<string, C>>;
}

/**
 * The one way Cleave defines an `isXError` guard: `instanceof errorClass`, and the given code when there is one.
 * With `lookAlikes`, an Error of another copy of the class (same name, a known code) passes too.
 */
export function codedErrorGuard<E extends CodedError>(
  errorClass: abstract new (...args: never[]) => E,
  lookAlikes?: LookAlikeErrors<E['code']>,
): CodedErrorGuard<E> {
  const knownCodes = lookAlikes === undefined ? undefined : new Set<unknown>(Object.values(lookAlikes.codes));
  const isLookAlike = (error: unknown): boolean =>
    knownCodes !== undefined &&
    error instanceof Error &&
    error.name === lookAlikes?.name &&
    knownCodes.has((error as { code?: unknown }).code);
  return (error: unknown, code?: E['code']): error is E =>
    (error instanceof errorClass || isLookAlike(error)) && (code === undefined || (error as E).code === code);
}
