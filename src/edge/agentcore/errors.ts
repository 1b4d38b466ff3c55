import { randomUUID } from 'node:crypto';
import { toBerthError, type AwsException } from '../../core/errors.ts';

/** The HTTP status each exception has in AgentCore's models. */
const STATUS: Record<AwsException, number> = {
  ValidationException: 400,
  UnauthorizedException: 401,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ConflictException: 409,
  RuntimeClientError: 424,
  ThrottlingException: 429,
  InternalServerException: 500,
};

/**
 * Any failure as AgentCore's restJson1 error: the exception's status, its name in `x-amzn-errortype` (which the
 * AWS SDK reads first to pick the typed exception it throws) and `{"message"}` in the body. A ValidationException
 * also carries the `reason` its model requires. The `Date` header lets the SDK correct its clock after a stale
 * signature.
 */
export function awsErrorResponse(error: unknown, requestId: string = randomUUID()): Response {
  const err = toBerthError(error);
  const name = err.awsException;
  const body: Record<string, unknown> = { message: err.message };
  if (name === 'ValidationException') {
    body.reason = err.details?.reason ?? (err.code === 'parse_error' ? 'CannotParse' : 'FieldValidationFailed');
    const issues = err.details?.issues;
    if (Array.isArray(issues)) body.fieldList = issues.map((issue) => ({ name: String(issue).split(':')[0], message: String(issue) }));
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-amzn-errortype': name,
    'x-amzn-requestid': requestId,
    date: new Date().toUTCString(),
  };
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  return new Response(JSON.stringify(body), { status: STATUS[name], headers });
}
