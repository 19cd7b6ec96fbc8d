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
