// The rendered custom resources (YAML on stdin) against their published models: Istio's
// (@kubernetes-models/istio) and Prometheus Operator's (@kubernetes-models/prometheus-operator,
// ServiceMonitor and PrometheusRule). Each must validate against its kind's schema (types,
// enums, required fields), and every key it uses must be a property its kind declares, read
// from the kind's type declarations and those they import (the schemas let unknown keys
// through, so a typo such as the seed's old `consecutiveErrors`, or a rule's `fro: 5m`, would
// pass unseen). Exits 1 with one line per fault.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as yaml from 'js-yaml';
import * as networking from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import * as security from '@kubernetes-models/istio/security.istio.io/v1beta1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const packageDir = (name) => join(dirname(fileURLToPath(import.meta.url)), 'node_modules', name);
const models = {
  'networking.istio.io/v1beta1': ['@kubernetes-models/istio', networking],
  'security.istio.io/v1beta1': ['@kubernetes-models/istio', security],
  'monitoring.coreos.com/v1': ['@kubernetes-models/prometheus-operator', monitoring],
};

// Property names in a declaration file and every declaration it imports, relative or from
// another @kubernetes-models package (the apimachinery's label selectors, say).
function declaredIn(file, seen = new Set()) {
  if (seen.has(file) || !existsSync(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const [, from] of text.matchAll(/from ["']([^"']+)["']/g)) {
    if (from.startsWith('.')) {
      declaredIn(join(dirname(file), from.replace(/\.js$/, '') + '.d.ts'), seen);
    } else if (from.startsWith('@kubernetes-models/')) {
      const [scope, name, ...rest] = from.split('/');
      declaredIn(join(packageDir(`${scope}/${name}`), ...rest) + '.d.ts', seen);
    }
  }
  return seen;
}
const declared = (apiVersion, kind) => {
  const [group, version] = apiVersion.split('/');
  const names = new Set();
  for (const file of declaredIn(join(packageDir(models[apiVersion][0]), group, version, `${kind}.d.ts`))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/["']?([A-Za-z0-9_$-]+)["']?\??:/g)) names.add(m[1]);
  }
  return names;
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
const checked = {};
for (const doc of yaml.loadAll(readFileSync(0, 'utf8'))) {
  if (!doc || !models[doc.apiVersion]) continue;
  const where = `${doc.kind}/${doc.metadata?.name}`;
  const Model = models[doc.apiVersion][1][doc.kind];
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
  checked[doc.kind] = (checked[doc.kind] ?? 0) + 1;
}
// Not vacuous: a misspelt key in a rule is caught.
const probe = [];
unknownKeys({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up', fro: '5m' }] }] },
  declared('monitoring.coreos.com/v1', 'PrometheusRule'), 'probe', probe);
if (probe.length !== 1) faults.push(`the unknown-key check missed a misspelt rule key (${probe})`);
if (faults.length) {
  console.error(faults.join('\n'));
  process.exit(1);
}
if (!Object.keys(checked).length) {
  console.error('no Istio or Prometheus Operator resource found');
  process.exit(1);
}
const counts = Object.entries(checked).map(([k, n]) => `${n} ${k}`).join(', ');
console.log(`custom resources valid, no unknown keys: ${counts}`);
