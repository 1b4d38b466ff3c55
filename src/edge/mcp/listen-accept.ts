import type { RequestHeaders } from '../../core/inbound.ts';
import { BerthError } from '../../core/errors.ts';

const EVENT_STREAM = 'text/event-stream';

/**
 * The headers a `subscriptions/listen` goes to its sandbox with. A listen stream answers only as an event stream,
 * open for as long as the client listens: answered as JSON it would never end, and the client would wait on a
 * response that never comes. A client whose Accept refuses event streams is told so (406); one that admits them only
 * by a wildcard, or sends no Accept, is answered with one, as it asked, whatever the server would pick for it.
 */
export function listenHeaders(headers: RequestHeaders): Headers {
  const accept = headers.get('accept');
  if (accept !== null && !acceptsEventStream(accept)) {
    throw new BerthError(
      'not_acceptable',
      `subscriptions/listen answers as an event stream (${EVENT_STREAM}), which this request's Accept refuses; send Accept: application/json, ${EVENT_STREAM}`,
    );
  }
  const out = new Headers();
  headers.forEach((value, name) => out.append(name, value));
  out.set('accept', `application/json, ${EVENT_STREAM}`);
  return out;
}

/** True when an Accept header admits an event stream, by name or by a wildcard (any text, any type), at a quality above 0. */
export function acceptsEventStream(accept: string): boolean {
  return accept.split(',').some((range) => {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const quality = parameters.find((parameter) => parameter.startsWith('q='));
    if (quality !== undefined && !(Number(quality.slice(2)) > 0)) return false;
    return type === EVENT_STREAM || type === 'text/*' || type === '*/*';
  });
}
