// The vm-monitor (AUTOSCALING): the autoscaler-agent's partner inside the compute.
export { DEFAULT_CGROUP, enterCgroup, resolveCgroupDir } from "./cgroup-dir.js";
export { startVmMonitor, type VmMonitor, type VmMonitorOptions } from "./vm-monitor.js";
