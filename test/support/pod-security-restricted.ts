// The Pod Security Standards "restricted" profile (which includes "baseline") as a check over a
// pod template, written from the Kubernetes documentation (concepts/security/pod-security-
// standards) because no maintained package evaluates it offline. Each control is one entry of
// CONTROLS, named as the documentation names it; `restrictedViolations` returns one line per
// violated control and field, empty when the pod would be admitted in a namespace labelled
// `pod-security.kubernetes.io/enforce: restricted`.

// biome-ignore lint/suspicious/noExplicitAny: pod specs are untyped YAML here
type Obj = Record<string, any>;

interface Container {
  kind: "containers" | "initContainers" | "ephemeralContainers";
  index: number;
  c: Obj;
}

function containersOf(spec: Obj): Container[] {
  return (["containers", "initContainers", "ephemeralContainers"] as const).flatMap((kind) =>
    ((spec[kind] as Obj[] | undefined) ?? []).map((c, index) => ({ kind, index, c })),
  );
}

const where = (x: Container, field: string) => `spec.${x.kind}[${x.index}].${field}`;

const BASELINE_CAPABILITIES = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);
const SELINUX_TYPES = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);
const RESTRICTED_VOLUMES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

type Control = (spec: Obj, meta: Obj) => string[];

const CONTROLS: Record<string, Control> = {
  // ---- baseline ----
  HostProcess: (spec) => [
    ...(spec.securityContext?.windowsOptions?.hostProcess
      ? ["spec.securityContext.windowsOptions.hostProcess"]
      : []),
    ...containersOf(spec)
      .filter((x) => x.c.securityContext?.windowsOptions?.hostProcess)
      .map((x) => where(x, "securityContext.windowsOptions.hostProcess")),
  ],
  "Host Namespaces": (spec) =>
    ["hostNetwork", "hostPID", "hostIPC"].filter((k) => spec[k]).map((k) => `spec.${k}`),
  "Privileged Containers": (spec) =>
    containersOf(spec)
      .filter((x) => x.c.securityContext?.privileged)
      .map((x) => where(x, "securityContext.privileged")),
  "Capabilities (baseline)": (spec) =>
    containersOf(spec).flatMap((x) =>
      ((x.c.securityContext?.capabilities?.add as string[] | undefined) ?? [])
        .filter((cap) => !BASELINE_CAPABILITIES.has(cap))
        .map((cap) => `${where(x, "securityContext.capabilities.add")} ${cap}`),
    ),
  "HostPath Volumes": (spec) =>
    ((spec.volumes as Obj[] | undefined) ?? [])
      .filter((v) => v.hostPath !== undefined)
      .map((v) => `spec.volumes[${v.name}].hostPath`),
  "Host Ports": (spec) =>
    containersOf(spec).flatMap((x) =>
      ((x.c.ports as Obj[] | undefined) ?? [])
        .filter((p) => p.hostPort !== undefined && p.hostPort !== 0)
        .map((p) => `${where(x, "ports")}.hostPort ${p.hostPort}`),
    ),
  AppArmor: (spec, meta) => {
    const ok = (t: unknown) => t === undefined || t === "RuntimeDefault" || t === "Localhost";
    const out: string[] = [];
    if (!ok(spec.securityContext?.appArmorProfile?.type))
      out.push("spec.securityContext.appArmorProfile.type");
    for (const x of containersOf(spec))
      if (!ok(x.c.securityContext?.appArmorProfile?.type))
        out.push(where(x, "securityContext.appArmorProfile.type"));
    for (const [k, v] of Object.entries((meta.annotations as Obj | undefined) ?? {}))
      if (
        k.startsWith("container.apparmor.security.beta.kubernetes.io/") &&
        v !== "runtime/default" &&
        !String(v).startsWith("localhost/")
      )
        out.push(`metadata.annotations[${k}]`);
    return out;
  },
  SELinux: (spec) => {
    const bad = (o: Obj | undefined) =>
      o !== undefined &&
      ((o.type !== undefined && !SELINUX_TYPES.has(o.type)) ||
        (o.user !== undefined && o.user !== "") ||
        (o.role !== undefined && o.role !== ""));
    return [
      ...(bad(spec.securityContext?.seLinuxOptions) ? ["spec.securityContext.seLinuxOptions"] : []),
      ...containersOf(spec)
        .filter((x) => bad(x.c.securityContext?.seLinuxOptions))
        .map((x) => where(x, "securityContext.seLinuxOptions")),
    ];
  },
  "/proc Mount Type": (spec) =>
    containersOf(spec)
      .filter(
        (x) => x.c.securityContext?.procMount !== undefined && x.c.securityContext.procMount !== "Default",
      )
      .map((x) => where(x, "securityContext.procMount")),
  "Seccomp (baseline)": (spec) => [
    ...(spec.securityContext?.seccompProfile?.type === "Unconfined"
      ? ["spec.securityContext.seccompProfile"]
      : []),
    ...containersOf(spec)
      .filter((x) => x.c.securityContext?.seccompProfile?.type === "Unconfined")
      .map((x) => where(x, "securityContext.seccompProfile")),
  ],
  Sysctls: (spec) =>
    ((spec.securityContext?.sysctls as Obj[] | undefined) ?? [])
      .filter((s) => !SAFE_SYSCTLS.has(s.name))
      .map((s) => `spec.securityContext.sysctls ${s.name}`),
  // ---- restricted ----
  "Volume Types": (spec) =>
    ((spec.volumes as Obj[] | undefined) ?? []).flatMap((v) =>
      Object.keys(v)
        .filter((k) => k !== "name" && !RESTRICTED_VOLUMES.has(k))
        .map((k) => `spec.volumes[${v.name}].${k}`),
    ),
  "Privilege Escalation": (spec) =>
    containersOf(spec)
      .filter((x) => x.c.securityContext?.allowPrivilegeEscalation !== false)
      .map((x) => where(x, "securityContext.allowPrivilegeEscalation must be false")),
  "Running as Non-root": (spec) => {
    const pod = spec.securityContext?.runAsNonRoot;
    return containersOf(spec)
      .filter((x) => {
        const own = x.c.securityContext?.runAsNonRoot;
        return own === false || (own !== true && pod !== true);
      })
      .map((x) => where(x, "securityContext.runAsNonRoot must be true (here or for the pod)"));
  },
  "Running as Non-root user": (spec) => [
    ...(spec.securityContext?.runAsUser === 0 ? ["spec.securityContext.runAsUser is 0"] : []),
    ...containersOf(spec)
      .filter((x) => x.c.securityContext?.runAsUser === 0)
      .map((x) => where(x, "securityContext.runAsUser is 0")),
  ],
  "Seccomp (restricted)": (spec) => {
    const allowed = (t: unknown) => t === "RuntimeDefault" || t === "Localhost";
    const pod = spec.securityContext?.seccompProfile?.type;
    return containersOf(spec)
      .filter((x) => {
        const own = x.c.securityContext?.seccompProfile?.type;
        return own === undefined ? !allowed(pod) : !allowed(own);
      })
      .map((x) => where(x, "securityContext.seccompProfile.type must be RuntimeDefault or Localhost"));
  },
  "Capabilities (restricted)": (spec) =>
    containersOf(spec).flatMap((x) => {
      const caps = x.c.securityContext?.capabilities ?? {};
      const out: string[] = [];
      if (!((caps.drop as string[] | undefined) ?? []).includes("ALL"))
        out.push(where(x, "securityContext.capabilities.drop must include ALL"));
      for (const cap of (caps.add as string[] | undefined) ?? [])
        if (cap !== "NET_BIND_SERVICE") out.push(`${where(x, "securityContext.capabilities.add")} ${cap}`);
      return out;
    }),
};

/** `control: field` for every restricted-profile control the pod template violates. */
export function restrictedViolations(template: { metadata?: Obj; spec: Obj }): string[] {
  return Object.entries(CONTROLS).flatMap(([name, check]) =>
    check(template.spec, template.metadata ?? {}).map((field) => `${name}: ${field}`),
  );
}
