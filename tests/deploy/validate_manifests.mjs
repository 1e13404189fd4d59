// Checks kustomize's output for mcpvisor offline: every object against the
// Kubernetes API schema of its apiVersion and kind (kubernetes-models), then
// what the schemas cannot know: that the probes are the monitor's /readyz
// and /livez on a port the container declares, that every volume and
// ConfigMap referred to exists, that the spec and environment named in
// args are among the ConfigMaps' files, that the resources are the
// environment's resource_limits, that the grace covers mcpvisord's ordered
// stop, that the Service selects the pods, and that a Job is a one-shot
// `deploy start --once`.
//   node validate_manifests.mjs NAME FILE.yaml [ENVIRONMENT]
import { readFileSync } from "node:fs";
import { parseAllDocuments, parse } from "yaml";

const [name, file, environment] = process.argv.slice(2);
const docs = parseAllDocuments(readFileSync(file, "utf8")).map((d) => {
  if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return d.toJS();
});
const problems = [];
const fail = (msg) => problems.push(msg);

for (const o of docs) {
  const [group, version] = o.apiVersion.includes("/")
    ? o.apiVersion.split("/") : [null, o.apiVersion];
  const mod = await import(`kubernetes-models/${group ? group + "/" : ""}${version}`);
  const Kind = mod[o.kind];
  if (!Kind) { fail(`${o.kind} ${o.metadata?.name}: no ${o.apiVersion} kind ${o.kind}`); continue; }
  try { new Kind(o).validate(); }
  catch (e) { fail(`${o.kind} ${o.metadata?.name}: ${e.message}`); }
}

const byKind = (k) => docs.filter((o) => o.kind === k);
const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c]));
const cmFiles = (prefix) => {
  for (const [n, c] of configMaps) if (n.startsWith(prefix)) return c.data ?? {};
  fail(`no ConfigMap ${prefix}*`);
  return {};
};
const quantity = (q) => {
  const s = String(q), m = s.match(/^([0-9.]+)(m|Mi|Gi)?$/);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "m" ? v / 1000 : m[2] === "Mi" ? v / 1024 : v;
};

function checkPod(what, pod) {
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const v of volumes.values())
    if (v.configMap && !configMaps.has(v.configMap.name))
      fail(`${what}: volume ${v.name} names ConfigMap ${v.configMap.name}, which is not in the output`);
  for (const c of pod.containers)
    for (const m of c.volumeMounts ?? [])
      if (!volumes.has(m.name)) fail(`${what}: mount ${m.mountPath} has no volume ${m.name}`);
  const sc = pod.securityContext ?? {};
  if (sc.runAsNonRoot !== true || sc.runAsUser !== 10001)
    fail(`${what}: not the image's unprivileged user (runAsNonRoot, 10001)`);
}

for (const d of byKind("Deployment")) {
  const pod = d.spec.template.spec, c = pod.containers[0];
  checkPod(`Deployment ${d.metadata.name}`, pod);
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/livez"]]) {
    const g = c[probe]?.httpGet;
    if (!g || g.path !== path) fail(`${probe} is not GET ${path}`);
    else if (!ports.has(g.port) && !(c.ports ?? []).some((p) => p.containerPort === g.port))
      fail(`${probe} names port ${g.port}, which the container does not declare`);
    else if ((ports.get(g.port) ?? g.port) !== 8765)
      fail(`${probe} is not on the monitor's port 8765`);
  }
  const spec = c.args?.[0]?.split("/").pop();
  if (!(spec in cmFiles("mcpvisor-deployments-")))
    fail(`args[0] ${c.args?.[0]}: no such file in the deployments ConfigMap`);
  const i = c.args.indexOf("--environment"), env = c.args[i + 1];
  if (environment && env !== environment) fail(`--environment ${env}, not ${environment}`);
  const envText = cmFiles("mcpvisor-environments-")[`${env}.yaml`];
  if (!envText) fail(`no environment file ${env}.yaml in the environments ConfigMap`);
  else {
    const limits = parse(envText).resource_limits ?? {};
    const lim = c.resources?.limits ?? {};
    if (limits.cpu_cores !== undefined && quantity(lim.cpu) !== limits.cpu_cores)
      fail(`limits.cpu ${lim.cpu}, but ${env}'s resource_limits.cpu_cores is ${limits.cpu_cores}`);
    if (limits.memory_gb !== undefined && quantity(lim.memory) !== limits.memory_gb)
      fail(`limits.memory ${lim.memory}, but ${env}'s resource_limits.memory_gb is ${limits.memory_gb}`);
    for (const k of ["cpu", "memory"])
      if (!(quantity(c.resources?.requests?.[k]) <= quantity(lim[k])))
        fail(`requests.${k} above limits.${k}`);
  }
  const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
  const sleep = preStop[0]?.endsWith("sleep") ? Number(preStop[1]) : 0;
  // mcpvisord's --grace (9 s, the image's entrypoint) after the preStop
  if (!(pod.terminationGracePeriodSeconds > sleep + 9))
    fail(`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} does not cover preStop (${sleep} s) and mcpvisord's 9 s grace`);
  for (const s of byKind("Service")) {
    const labels = d.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(s.spec.selector))
      if (labels[k] !== v) fail(`Service ${s.metadata.name} selects ${k}=${v}, which the pods do not have`);
    for (const p of s.spec.ports)
      if (!ports.has(p.targetPort) && !(c.ports ?? []).some((q) => q.containerPort === p.targetPort))
        fail(`Service ${s.metadata.name}: targetPort ${p.targetPort} is no port of the container`);
  }
}

for (const j of byKind("Job")) {
  const pod = j.spec.template.spec, c = pod.containers[0];
  checkPod(`Job ${j.metadata.name}`, pod);
  if (pod.restartPolicy !== "Never") fail(`Job: restartPolicy ${pod.restartPolicy}, not Never`);
  if (j.spec.backoffLimit !== 0) fail("Job: backoffLimit is not 0 (a failed smoke test is the answer)");
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (!argv[0]?.endsWith("/mcpvisor") || !argv.includes("--once") ||
      argv.indexOf("deploy") === -1 || argv[argv.indexOf("deploy") + 1] !== "start")
    fail(`Job: not mcpvisor deploy start SPEC --once: ${argv.join(" ")}`);
  const spec = argv[argv.indexOf("start") + 1].split("/").pop();
  if (!(spec in cmFiles("mcpvisor-deployments-")))
    fail(`Job: ${spec} is not in the deployments ConfigMap`);
}

if (problems.length) {
  for (const p of problems) console.error(`${name}: ${p}`);
  process.exit(1);
}
console.log(`ok - ${name}: ${docs.length} objects (${docs.map((o) => o.kind).join(", ")}) valid against the Kubernetes API schemas, and consistent`);
