package pgsvc.router;

import java.nio.file.Files;
import java.nio.file.Path;

import io.netty.util.ResourceLeakDetector;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;

/** {@code java -jar pgsvc-pooler.jar [-q] [-v] [-V] [-h] pooler.ini}, as pgbouncer's command line. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        // Netty samples one buffer in 128 for its leak detector by default, taking a stack trace each time: about
        // 1% of the CPU under load. The tests run it at paranoid level; a user can still ask with the property.
        if (System.getProperty("io.netty.leakDetection.level") == null
                && System.getProperty("io.netty.leakDetectionLevel") == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        boolean quiet = false;
        boolean daemon = false;
        int verbose = 0;
        String ini = null;
        for (String arg : args) {
            switch (arg) {
                case "-d", "--daemon" -> daemon = true;
                case "-u", "--user" -> {
                    System.err.println("pgsvc: -u is not supported: a Java process cannot switch users; start pgsvc "
                            + "as that user (systemd User=, runuser -u USER --)");
                    System.exit(1);
                }
                case "-R", "--reboot" -> {
                    System.err.println("pgsvc: -R (online restart) is not supported, as in PgBouncer 1.26; use "
                            + "so_reuseport and restart processes one at a time");
                    System.exit(1);
                }
                case "-h", "--help" -> {
                    usage();
                    return;
                }
                case "-V", "--version" -> {
                    System.out.println("pgsvc " + Version.VERSION + " (PgBouncer " + Version.PGBOUNCER_COMPAT
                            + " compatible)");
                    return;
                }
                case "-q", "--quiet" -> quiet = true;
                case "-v", "--verbose" -> verbose++;
                default -> {
                    if (arg.startsWith("-v") && arg.chars().skip(1).allMatch(c -> c == 'v')) {
                        verbose += arg.length() - 1;
                    } else if (arg.startsWith("-")) {
                        System.err.println("pgsvc: unknown option " + arg);
                        usage();
                        System.exit(1);
                    } else {
                        ini = arg;
                    }
                }
            }
        }
        if (ini == null) {
            usage();
            System.exit(1);
        }
        Path path = Path.of(ini);
        if (!Files.isReadable(path)) {
            System.err.println("pgsvc: cannot read config file " + path);
            System.exit(1);
        }
        Config config;
        try {
            config = Config.load(path);
        } catch (ConfigException e) {
            System.err.println("pgsvc: " + e.getMessage());
            System.err.println("pgsvc: cannot load config file");
            System.exit(1);
            return;
        }
        if (daemon) {
            System.exit(Daemon.detach(config, args));
            return;
        }
        Logging.configure(config, verbose, quiet);
        try {
            Path pidfile = config.pidfile() == null || config.pidfile().isEmpty() ? null : Path.of(config.pidfile());
            Pgsvc pgsvc = Pgsvc.start(config);
            // The console's SHUTDOWN ends the process, as the signals do; the hook below then closes pgsvc.
            pgsvc.onExit(() -> System.exit(0));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                pgsvc.close();
                if (pidfile != null) {
                    try {
                        Files.deleteIfExists(pidfile);
                    } catch (java.io.IOException ignored) {
                        // Nothing to do at exit; a stale pidfile is harmless with a dead pid.
                    }
                }
            }, "pgsvc-shutdown"));
            SdNotify systemd = SdNotify.fromEnvironment(pgsvc.pooler().transport(), pgsvc.pooler().workers());
            // Before the pidfile and the "process up" line: whoever sees either may send a signal at once, and a
            // SIGHUP that comes before the handler ends the JVM (logrotate's, right after a start).
            Signals.install(pgsvc, systemd);
            // Written once listening, so that -d and service managers take a pidfile to mean "up".
            if (pidfile != null) {
                // Written whole under another name and renamed: a reader never sees an empty pidfile.
                Path partial = pidfile.resolveSibling(pidfile.getFileName() + ".tmp");
                Files.writeString(partial, ProcessHandle.current().pid() + "\n");
                Files.move(partial, pidfile, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            pgsvc.logProcessUp();
            // Listening, pidfile written, signals handled: a Type=notify unit is up from here.
            systemd.ready();
        } catch (Exception e) {
            org.slf4j.LoggerFactory.getLogger(Main.class).error("startup failed: {}", e.toString());
            System.exit(1);
        }
    }

    private static void usage() {
        System.out.println("""
                usage: java -jar pgsvc-pooler.jar [OPTION]... CONFIG_FILE
                  -d, --daemon   run in the background (needs pidfile and logfile)
                  -q, --quiet    run quietly (no log to stderr)
                  -v, --verbose  increase verbosity (repeatable)
                  -V, --version  print version and exit
                  -h, --help     show this help and exit""");
    }
}
