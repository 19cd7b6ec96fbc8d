// Path parameters of the console's API: every model, version and agent id is a subject token, checked before use
// (a bad one gets a 400 naming the parameter, never a NATS error).
import { assertToken } from '@cleave/proto';

/** `value` when it is a valid subject token, else a 400 response whose field error names `what`. */
export function tokenOr400(value: string, what: string): string | Response {
  try {
    return assertToken(value, what);
  } catch (error) {
    return Response.json(
      { error: (error as Error).message, fieldErrors: { [what]: [(error as Error).message] } },
      { status: 400 },
    );
  }
}
