// The rendered Istio resources (YAML on stdin) against @kubernetes-models/istio: each must
// validate against its kind's schema (types, enums, required fields), and every key it uses must
// be a property its kind declares (the schemas let unknown keys through, so a typo such as the
// seed's old `consecutiveErrors` would pass unseen). Exits 1 with one line per fault.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as yaml from 'js-yaml';
import * as networking from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import * as security from '@kubernetes-models/istio/security.istio.io/v1beta1';

const models = {
  'networking.istio.io/v1beta1': networking,
  'security.istio.io/v1beta1': security,
};
const root = dirname(createRequire(import.meta.url).resolve('@kubernetes-models/istio/package.json'));
const declared = (apiVersion, kind) => {
  const [group, version] = apiVersion.split('/');
  const text = readFileSync(join(root, group, version, `${kind}.d.ts`), 'utf8');
  return new Set([...text.matchAll(/["']?([A-Za-z0-9_$]+)["']?\??:/g)].map((m) => m[1]));
};
// Keys a Kubernetes object has whatever its kind; label and annotation keys are data.
const META = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'name', 'namespace', 'labels', 'annotations']);
const DATA = ['labels', 'annotations', 'matchLabels', 'headers'];

function unknownKeys(value, known, path, faults) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownKeys(v, known, `${path}[${i}]`, faults));
  } else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (!known.has(key) && !META.has(key)) faults.push(`${path}.${key}: not a property of its kind`);
      // The keys under these are the user's (label names, header names), not the schema's.
      if (!DATA.includes(key)) unknownKeys(v, known, `${path}.${key}`, faults);
    }
  }
}

const faults = [];
let checked = 0;
for (const doc of yaml.loadAll(readFileSync(0, 'utf8'))) {
  if (!doc || !models[doc.apiVersion]) continue;
  const where = `${doc.kind}/${doc.metadata?.name}`;
  const Model = models[doc.apiVersion][doc.kind];
  if (!Model) {
    faults.push(`${where}: no model for ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    faults.push(`${where}: ${e.message}`);
  }
  unknownKeys(doc.spec, declared(doc.apiVersion, doc.kind), `${where}.spec`, faults);
  checked += 1;
}
if (faults.length) {
  console.error(faults.join('\n'));
  process.exit(1);
}
if (!checked) {
  console.error('no Istio resource found');
  process.exit(1);
}
console.log(`istio: ${checked} resources valid, no unknown keys`);
