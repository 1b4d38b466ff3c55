/** The token of an `Authorization: Bearer` header (RFC 6750's token68), or undefined. */
export function bearerToken(header: string | null): string | undefined {
  const match = header === null ? null : /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1];
}

/** A Bearer challenge for `WWW-Authenticate`; quoted values lose the characters a quoted-string cannot hold. */
export function challenge(params: Record<string, string>): string {
  return `Bearer ${Object.entries(params)
    .map(([name, value]) => `${name}="${value.replace(/["\\\r\n]/g, '')}"`)
    .join(', ')}`;
}
