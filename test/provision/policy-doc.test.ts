import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { provisioningTopics } from '../../src/provision/fleet.js';
import { claimAclLines } from '../helpers/provisioning-service.js';
import { REPO } from '../helpers/cli.js';

it('the claim policy in docs/provisioning.md allows exactly the topics the code uses (and the tests\' ACLs enforce)', () => {
  const md = readFileSync(path.join(REPO, 'docs/provisioning.md'), 'utf8');
  const block = /```json claim-policy\n([\s\S]*?)```/.exec(md);
  expect(block, 'docs/provisioning.md has a ```json claim-policy block').not.toBeNull();
  const policy = JSON.parse(block![1]) as { Statement: { Action: string | string[]; Resource: string | string[] }[] };
  const res = (action: string, kind: string): string[] =>
    policy.Statement.filter((s) => [s.Action].flat().includes(action))
      .flatMap((s) => [s.Resource].flat())
      .map((r) => r.replace(new RegExp(`^arn:aws:iot:<region>:<account>:${kind}/`), ''))
      .sort();
  const t = provisioningTopics('EdgewiseFleet');
  expect(res('iot:Publish', 'topic')).toEqual([...t.publish].sort());
  expect(res('iot:Subscribe', 'topicfilter')).toEqual([...t.subscribe].sort());
  expect(res('iot:Receive', 'topic')).toEqual([...t.subscribe].sort());
  // the mosquitto ACL the scripted service gives the claim identity is built from the same list
  const acl = claimAclLines('EdgewiseFleet');
  expect(acl.filter((l) => l.startsWith('topic write ')).map((l) => l.slice(12)).sort()).toEqual(res('iot:Publish', 'topic'));
  expect(acl.filter((l) => l.startsWith('topic read ')).map((l) => l.slice(11)).sort()).toEqual(res('iot:Receive', 'topic'));
});
