/** The access key the AgentCore API tests sign with, and the berth settings that make a node accept it. */
export const AWS_KEYS = { accessKeyId: 'AKIDBERTHTEST0001', secretAccessKey: 'berth-test-secret-key' };
export const AWS_ENV = {
  BERTH_AWS_ACCESS_KEY_ID: AWS_KEYS.accessKeyId,
  BERTH_AWS_SECRET_ACCESS_KEY: AWS_KEYS.secretAccessKey,
  BERTH_AWS_ACCOUNT_ID: '123456789012',
  BERTH_AWS_REGION: 'us-west-2',
};
