package main

import (
	"fmt"
	"os"
)

// usage is what one process used so far: CPU clock ticks (user+system) and context
// switches (voluntary+involuntary, all threads).
type usage struct {
	ticks, switches int64
}

func readUsage(pid int) (usage, error) {
	ticks, err := cpuTicks(pid)
	if err != nil {
		return usage{}, err
	}
	switches, err := contextSwitches(pid)
	return usage{ticks: ticks, switches: switches}, err
}

func (u usage) minus(o usage) usage {
	return usage{ticks: u.ticks - o.ticks, switches: u.switches - o.switches}
}

// machineUsage is the usage of the service process and of the driver process. With
// -inprocess the service runs in the driver: all of it is the driver's, and split is false.
type machineUsage struct {
	service, driver usage
	split           bool
}

// readMachineUsage reads both processes (the driver only with -inprocess).
func readMachineUsage(s *serverProc) (machineUsage, error) {
	driver, err := readUsage(os.Getpid())
	if err != nil || s.inProcess {
		return machineUsage{driver: driver}, err
	}
	service, err := readUsage(s.proc.Pid())
	return machineUsage{service: service, driver: driver, split: true}, err
}

// taskCosts are a measured window's costs per task: CPU in µs and context switches, of
// the whole machine (service + driver) and of each process.
type taskCosts struct {
	cpu                             float64
	serviceCPU, driverCPU           float64
	serviceSwitches, driverSwitches float64
	split                           bool
}

// costsPerTask divides the usage between before and after by the tasks of the window.
func costsPerTask(before, after machineUsage, tasks int) taskCosts {
	s, d := after.service.minus(before.service), after.driver.minus(before.driver)
	perTask := func(n int64) float64 { return float64(n) / float64(tasks) }
	return taskCosts{
		cpu:        cpuPerTask(s.ticks+d.ticks, tasks),
		serviceCPU: cpuPerTask(s.ticks, tasks), driverCPU: cpuPerTask(d.ticks, tasks),
		serviceSwitches: perTask(s.switches), driverSwitches: perTask(d.switches),
		split: after.split,
	}
}

// String is the split of the CPU and the context switches per task, e.g.
// "service 41.2 µs + driver 20.1 µs; ctx switches/task service 0.45, driver 0.31".
func (c taskCosts) String() string {
	if !c.split {
		return fmt.Sprintf("ctx switches/task %.2f (service and driver in one process)", c.driverSwitches)
	}
	return fmt.Sprintf("service %.1f µs + driver %.1f µs; ctx switches/task service %.2f, driver %.2f",
		c.serviceCPU, c.driverCPU, c.serviceSwitches, c.driverSwitches)
}

// cpuPerTask is microseconds of CPU per task from a tick difference (USER_HZ ticks).
func cpuPerTask(ticks int64, tasks int) float64 {
	return float64(ticks) * (1e6 / clockTicksPerSecond) / float64(tasks)
}
