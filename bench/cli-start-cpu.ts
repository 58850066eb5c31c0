// Loaded with `node --import` into each process the start-up bench times: writes the process's
// own CPU time (user + system) as its last stderr line, a figure a busy machine distorts far
// less than the wall time. Nothing imports it.
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  process.stderr.write(`\ncli-start-cpu-ms ${(user + system) / 1000}\n`);
});
