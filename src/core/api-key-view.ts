/** An API key as `/v1/keys` shows it: never the key, never its hash. The one shape the node answers with and the CLI and console read. */
export interface ApiKeyView {
  id: string;
  admin: boolean;
  runtime?: string;
  user?: string;
  description?: string;
  createdAt: string;
  revokedAt?: string;
}
