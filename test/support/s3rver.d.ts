// The part of s3rver's API (a fake S3 server for tests; the package ships no types) we use.
declare module "s3rver" {
  interface S3rverOptions {
    address?: string;
    port?: number;
    key?: Buffer | string;
    cert?: Buffer | string;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
