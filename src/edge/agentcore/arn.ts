import { BerthError } from '../../core/errors.ts';

/** Where berth says its AgentCore resources live: every ARN it shows names this region and account. */
export interface AwsIdentity {
  region: string;
  accountId: string;
}

export function runtimeArn(identity: AwsIdentity, runtimeId: string): string {
  return `arn:aws:bedrock-agentcore:${identity.region}:${identity.accountId}:runtime/${runtimeId}`;
}

export function endpointArn(identity: AwsIdentity, runtimeId: string, endpoint: string): string {
  return `${runtimeArn(identity, runtimeId)}/runtime-endpoint/${endpoint}`;
}

export function workloadIdentityArn(identity: AwsIdentity, runtimeId: string): string {
  return `arn:aws:bedrock-agentcore:${identity.region}:${identity.accountId}:workload-identity-directory/default/workload-identity/${runtimeId}`;
}

const RUNTIME_ARN = /^arn:aws[a-z-]*:bedrock-agentcore:([a-z0-9-]+):(\d{12}):runtime\/([A-Za-z0-9_-]+)$/;

/**
 * The runtime id a data-plane path names: a full runtime ARN (any region, this account) or a bare id, which AWS
 * pairs with an `accountId` query parameter.
 */
export function runtimeIdOf(identity: AwsIdentity, label: string, accountId: string | null): string {
  if (label.startsWith('arn:')) {
    const match = RUNTIME_ARN.exec(label);
    if (!match) throw new BerthError('validation_failed', `"${label}" is not an agent runtime ARN (arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID)`);
    if (match[2] !== identity.accountId) {
      throw new BerthError('runtime_not_found', `no runtime ${label}: this berth's account is ${identity.accountId}`);
    }
    return match[3] as string;
  }
  if (accountId !== null && accountId !== identity.accountId) {
    throw new BerthError('runtime_not_found', `no runtime ${label} in account ${accountId}: this berth's account is ${identity.accountId}`);
  }
  return label;
}
