package pgsvc.router;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import pgsvc.pooler.config.Config;

/**
 * {@code -d}: a JVM cannot fork, so pgsvc starts itself again in the background without -d, detached from the
 * terminal, and returns once the new process has written its pidfile (or has failed). As with PgBouncer, a
 * daemon needs a pidfile, and a logfile or syslog.
 */
final class Daemon {
    private Daemon() {
    }

    static int detach(Config config, String[] args) {
        if (config.pidfile() == null || config.pidfile().isEmpty()) {
            System.err.println("pgsvc: -d needs pidfile in the config file");
            return 1;
        }
        if ((config.logfile() == null || config.logfile().isEmpty()) && !config.getBool("syslog")) {
            System.err.println("pgsvc: -d needs logfile or syslog in the config file");
            return 1;
        }
        Path pidfile = Path.of(config.pidfile());
        try {
            Files.deleteIfExists(pidfile);
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(Main.class.getName());
            cmd.add("-q");
            for (String a : args) {
                if (!a.equals("-d") && !a.equals("--daemon")) {
                    cmd.add(a);
                }
            }
            Process child = new ProcessBuilder(cmd)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            long deadline = System.nanoTime() + 30_000_000_000L;
            // Waiting here is on the command line, before any event loop exists: a plain poll is fine.
            while (System.nanoTime() < deadline) {
                if (!child.isAlive()) {
                    System.err.println("pgsvc: the background process exited with " + child.exitValue()
                            + "; see " + config.logfile());
                    return 1;
                }
                if (Files.exists(pidfile) && !Files.readString(pidfile).isBlank()) {
                    return 0;
                }
                Thread.sleep(20);
            }
            System.err.println("pgsvc: the background process did not start in 30 s; see " + config.logfile());
            return 1;
        } catch (Exception e) {
            System.err.println("pgsvc: cannot start in the background: " + e.getMessage());
            return 1;
        }
    }
}
