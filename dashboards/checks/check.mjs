// The Grafana side of the dashboards, no Grafana needed (run by dashboards/prove.sh):
//   1. provisioning/*.yaml against provisioning.schema.json (closed objects: Grafana ignores a
//      key it does not know, so a typo would be lost unseen), every datasourceUid pointing at a
//      provisioned datasource, one default; a copy with a misspelt key must fail (not vacuous);
//   2. every LogQL query of every dashboard, and every Loki variable's stream selector, parsed
//      by Grafana's own LogQL grammar (@grafana/lezer-logql): no error node, and each stream
//      selector names `app` and `namespace` (one deployment at a time).
// Exits 1 with one line per fault.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv/dist/2020.js';
import * as yaml from 'js-yaml';
import { parser } from '@grafana/lezer-logql';

const root = process.argv[2] ?? '.';
const dashboards = join(root, 'dashboards');
const faults = [];

// 1. Provisioning.
const schema = JSON.parse(readFileSync(new URL('./provisioning.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addSchema(schema, 'provisioning');
const validate = (kind, doc) => {
  const check = ajv.getSchema(`provisioning#/$defs/${kind}`);
  return check(doc) ? [] : check.errors.map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
};
const load = (name) => yaml.load(readFileSync(join(dashboards, 'provisioning', name), 'utf8'));
const sources = load('datasources.yaml');
const providers = load('dashboards.yaml');
for (const [file, kind, doc] of [['datasources.yaml', 'datasources', sources], ['dashboards.yaml', 'dashboards', providers]]) {
  for (const e of validate(kind, doc)) faults.push(`provisioning/${file}: ${e}`);
}
const uids = new Set((sources.datasources ?? []).map((d) => d.uid));
if (uids.size !== (sources.datasources ?? []).length) faults.push('provisioning/datasources.yaml: a uid twice (or one missing)');
if ((sources.datasources ?? []).filter((d) => d.isDefault).length !== 1) faults.push('provisioning/datasources.yaml: not exactly one default');
const references = (value, path) => {
  if (Array.isArray(value)) return value.flatMap((v, i) => references(v, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => (k === 'datasourceUid' ? [[path, v]] : references(v, `${path}.${k}`)));
  }
  return [];
};
for (const [path, uid] of references(sources.datasources, 'datasources')) {
  if (!uids.has(uid)) faults.push(`provisioning/datasources.yaml: ${path}.datasourceUid ${uid} is no provisioned datasource`);
}
// Not vacuous: a misspelt key deep in a datasource's jsonData, and one in a provider, fail.
const broken = structuredClone(sources);
const loki = broken.datasources.find((d) => d.type === 'loki');
loki.jsonData.derivedFields[0].matcherRgex = loki.jsonData.derivedFields[0].matcherRegex;
const brokenProviders = structuredClone(providers);
brokenProviders.providers[0].options.foldersFromFileStructure = true;
if (!validate('datasources', broken).length || !validate('dashboards', brokenProviders).length) {
  faults.push('provisioning.schema.json let a misspelt key through');
}

// 2. LogQL. Grafana's built-in variables become what Grafana sends Loki.
const substitute = (q) => q.replaceAll('$__interval', '1m').replaceAll('$__range', '5m').replaceAll('$__auto', '1m');
// A stream selector's matcher (Matchers nest), not a label filter's.
const inSelector = (matcher) => {
  let up = matcher.parent;
  while (up?.name === 'Matchers') up = up.parent;
  return up?.name === 'Selector';
};
const parsed = (where, query) => {
  const tree = parser.parse(substitute(query));
  const labels = [];
  let errors = 0;
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors += 1;
      if (node.name === 'Matcher' && inSelector(node.node)) {
        const id = node.node.getChild('Identifier');
        if (id) labels.push(substitute(query).slice(id.from, id.to));
      }
    },
  });
  if (tree.topNode.name !== 'LogQL' || errors) faults.push(`${where}: not LogQL (${errors} errors): ${query}`);
  return labels;
};
let checked = 0;
for (const file of readdirSync(join(dashboards, 'grafana')).filter((f) => f.endsWith('.json'))) {
  const board = JSON.parse(readFileSync(join(dashboards, 'grafana', file), 'utf8'));
  const queries = board.panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource?.type === 'loki').map((t) => t.expr));
  const streams = board.templating.list.filter((v) => v.datasource?.type === 'loki' && v.query?.stream).map((v) => v.query.stream);
  for (const query of queries) {
    const labels = parsed(`grafana/${file}`, query);
    for (const label of ['app', 'namespace']) {
      if (!labels.includes(label)) faults.push(`grafana/${file}: ${query} does not select ${label}`);
    }
    checked += 1;
  }
  for (const stream of streams) {
    parsed(`grafana/${file} variable`, stream);
    checked += 1;
  }
}
// Not vacuous: the parser refuses a broken query.
const before = faults.length;
parsed('self-check', '{app="x"} |= ');
if (faults.length === before) faults.push('the LogQL parser accepted a broken query');
else faults.pop();

if (faults.length) {
  console.error(faults.join('\n'));
  process.exit(1);
}
console.log(`grafana: provisioning valid against its schema; ${checked} LogQL queries parsed`);
