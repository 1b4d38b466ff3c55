import { BerthError } from '../../core/errors.ts';
import type { ApiKeyService } from '../../control/api-keys.ts';
import { isAwsSigned, streamVerified, type AwsAuth } from '../agentcore/auth.ts';
import { bearerToken, challenge } from './bearer.ts';
import { consoleKey } from '../console/console-session.ts';

export interface AdminGuardOptions {
  apiKeys: ApiKeyService;
  aws: AwsAuth;
}

/**
 * The control plane's door: an admin API key (`Authorization: Bearer berth_…`) or a request signed with one of
 * berth's AWS keys. A runtime's data-plane credentials never open it. Answers the request to hand on: a signed one
 * comes back with its body checked against the signature as it streams.
 */
export async function admitAdmin(request: Request, url: URL, options: AdminGuardOptions): Promise<Request> {
  if (isAwsSigned(request)) {
    // With AWS auth off nothing checks a signature, so one proves nothing here.
    if (options.aws.mode === 'off') {
      throw new BerthError(
        'unauthorized',
        "berth's AWS auth is off (--aws-auth off), so a SigV4 signature proves nothing; send an admin key as Authorization: Bearer berth_…",
        {
          challenge: challenge({ realm: 'berth' }),
        },
      );
    }
    return streamVerified(request, url, options.aws);
  }
  // The console's requests carry the admin key in its cookie (console-session.ts), a bearer's in the header.
  const token = bearerToken(request.headers.get('authorization')) ?? consoleKey(request.headers);
  if (token === undefined) {
    throw new BerthError('unauthorized', "berth's control API needs an admin key (Authorization: Bearer berth_…); berth serve says where the first one is", {
      challenge: challenge({ realm: 'berth' }),
    });
  }
  const record = await options.apiKeys.verify(token);
  if (record === undefined) {
    throw new BerthError('unauthorized', 'the admin key is unknown or was revoked', {
      challenge: challenge({ realm: 'berth', error: 'invalid_token', error_description: 'the key is unknown or was revoked' }),
    });
  }
  if (record.scope.kind !== 'admin') {
    throw new BerthError('forbidden', `this key opens runtime "${record.scope.runtime}"'s sessions, not berth's control API, which takes an admin key`, {
      challenge: challenge({ realm: 'berth', error: 'insufficient_scope', error_description: 'an admin key is needed' }),
    });
  }
  return request;
}
