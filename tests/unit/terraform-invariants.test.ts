import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { parse } from "@cdktf/hcl2json";

const TERRAFORM_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../infra/terraform");

type Block = Record<string, unknown>;
/** kind ("resource", "data", "variable", …) → type → name → blocks */
type Config = Record<string, Record<string, Record<string, Block[]>>>;

/** Every .tf file of infra/terraform, parsed by HashiCorp's HCL parser (compiled to wasm in @cdktf/hcl2json) and merged. */
async function loadTerraform(): Promise<Config> {
  const config: Config = {};
  for (const file of (await fs.readdir(TERRAFORM_DIR)).filter((name) => name.endsWith(".tf")).sort()) {
    const parsed = (await parse(file, await fs.readFile(path.join(TERRAFORM_DIR, file), "utf8"))) as Config;
    for (const [kind, types] of Object.entries(parsed)) {
      config[kind] ??= {};
      // resource/data blocks nest type → name → blocks; variable/output/locals are one level less.
      for (const [type, byName] of Object.entries(types)) config[kind]![type] = Array.isArray(byName) ? byName : { ...(config[kind]![type] ?? {}), ...byName };
    }
  }
  return config;
}

const text = (value: unknown) => JSON.stringify(value);

describe("infra/terraform invariants", () => {
  let tf: Config;
  const resources = (type: string) => tf.resource?.[type] ?? {};
  before(async () => {
    tf = await loadTerraform();
  });

  it("gives every work queue a dead-letter queue with a maxReceiveCount", () => {
    const queues = resources("aws_sqs_queue");
    const work = Object.keys(queues).filter((name) => !/dlq/i.test(name));
    assert.ok(work.includes("tasks") && work.includes("results"), `queues: ${Object.keys(queues).join(", ")}`);
    for (const name of work) {
      const redrive = text(queues[name]![0]!.redrive_policy);
      assert.match(redrive, /deadLetterTargetArn\s*=\s*aws_sqs_queue\.\w*dlq\w*\.arn/, `${name} has no DLQ`);
      assert.match(redrive, /maxReceiveCount/, `${name} has no maxReceiveCount`);
    }
  });

  it("gives workers no database access: no connection settings, no secrets, no RDS or Secrets Manager permissions", () => {
    const worker = resources("aws_ecs_task_definition").worker?.[0];
    assert.ok(worker, "a worker task definition exists");
    assert.doesNotMatch(text(worker.container_definitions), /DATABASE_URL|PGPASSWORD|PGHOST|secrets\s*=/);
    const workerLocals = text(tf.locals);
    assert.doesNotMatch(workerLocals.slice(workerLocals.indexOf("worker_environment")), /^[^}]*DATABASE_URL/);
    const policy = text(tf.data?.aws_iam_policy_document?.worker_task);
    assert.ok(policy.length > 10, "the worker task role has a policy");
    assert.doesNotMatch(policy, /rds|secretsmanager|"\*"/i);
    // Only its queues and bucket.
    for (const resource of policy.match(/\$\{[^}]+\}/g) ?? []) assert.match(resource, /aws_sqs_queue\.(tasks|results)|aws_s3_bucket\.media|local\./, resource);
  });

  it("scales the GPU workers on tasks backlog per worker, down to zero", () => {
    const policies = resources("aws_appautoscaling_policy");
    const tracking = Object.values(policies).flat().find((policy) => policy.policy_type === "TargetTrackingScaling");
    assert.ok(tracking, "a target-tracking policy exists");
    assert.match(text(tracking), /ApproximateNumberOfMessagesVisible/);
    assert.match(text(tracking), /aws_ecs_service\.worker/);
    const target = resources("aws_appautoscaling_target").worker?.[0];
    assert.match(text(target?.min_capacity), /var\.worker_min_count/);
    const minCount = tf.variable?.worker_min_count as unknown as Block[] | undefined;
    assert.equal(minCount?.[0]?.default, 0);
    assert.ok(resources("aws_ecs_capacity_provider").gpu, "GPU instances come through a capacity provider");
  });

  it("runs two control-plane tasks by default, each draining within the time ECS gives it", () => {
    const count = tf.variable?.control_plane_desired_count as unknown as Block[] | undefined;
    assert.equal(count?.[0]?.default, 2);
    assert.match(text(resources("aws_ecs_service").control_plane?.[0]?.desired_count), /var\.control_plane_desired_count/);
    const definition = text(resources("aws_ecs_task_definition").control_plane?.[0]?.container_definitions);
    assert.match(definition, /stopTimeout\s*=\s*var\.control_plane_stop_timeout/);
    assert.match(text(tf.locals), /SHUTDOWN_GRACE_MS\s*=\s*tostring\(\(var\.control_plane_stop_timeout - 10\) \* 1000\)/);
  });

  it("makes nothing public: the bucket blocks public access, the database is private, only the load balancer takes inbound traffic", () => {
    const block = resources("aws_s3_bucket_public_access_block").media?.[0];
    for (const flag of ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]) assert.equal(block?.[flag], true, flag);
    assert.equal(resources("aws_db_instance").this?.[0]?.publicly_accessible, false);
    for (const [name, rules] of Object.entries(resources("aws_vpc_security_group_ingress_rule"))) {
      const rule = rules[0]!;
      if (rule.cidr_ipv4 !== undefined || rule.cidr_ipv6 !== undefined) assert.match(text(rule.security_group_id), /aws_security_group\.alb/, `${name} opens a non-ALB group to a CIDR`);
    }
  });
});
