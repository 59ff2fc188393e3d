package pgsvc.router;

import java.nio.file.Path;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Pooler;
import pgsvc.pooler.ProcessControl;
import pgsvc.pooler.Transport;
import pgsvc.pooler.auth.Hba;
import pgsvc.pooler.config.AuthFile;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;
import pgsvc.pooler.config.Setting;
import pgsvc.pooler.tls.Tls;

/** One running pgsvc: event loops, the pooler and its listeners. Main runs one; tests start them in-process. */
public final class Pgsvc implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Pgsvc.class);

    private final EventLoopGroup workers;
    private final Pooler pooler;
    private final Router router;
    private final Listeners listeners;
    /** The Prometheus endpoint, or null when [pgsvc] metrics_port is not set. */
    private final MetricsServer metrics;
    /** RELOAD, SET and signals apply one configuration at a time. */
    private final Object configLock = new Object();
    /** What SHUTDOWN on the console runs at the end: close() in a test's JVM; Main makes it System.exit. */
    private volatile Runnable exit = this::close;

    private Pgsvc(EventLoopGroup workers, Pooler pooler, Router router, Listeners listeners,
            MetricsServer metrics) {
        this.metrics = metrics;
        this.workers = workers;
        this.pooler = pooler;
        this.router = router;
        this.listeners = listeners;
    }

    public static Pgsvc start(Path ini) throws ConfigException, Exception {
        return start(Config.load(ini));
    }

    public static Pgsvc start(Config config) throws Exception {
        AuthFile authFile = config.authFile() == null ? null : AuthFile.load(config.authFile());
        if (authFile != null) {
            authFile.warnings().forEach(log::warn);
        }
        Hba hba = Hba.loadFor(config);
        if (hba != null) {
            hba.warnings().forEach(log::warn);
        }
        // Certificates and keys are read before anything listens: a TLS setting that cannot work refuses the start.
        Tls tls = Tls.load(config);
        tls.warnings().forEach(log::warn);
        for (String name : Coverage.notApplied(config)) {
            log.warn("setting {} is accepted but not applied by this version of pgsvc", name);
        }
        Transport transport = Transport.detect();
        int threads = Integer.getInteger("pgsvc.threads", defaultThreads());
        EventLoopGroup workers = transport.newGroup(threads, "pgsvc-io");
        try {
            Pooler pooler = new Pooler(config, authFile, transport, workers);
            pooler.hba(hba);
            pooler.tls(tls);
            pooler.startJanitor();
            Router router = new Router(config, pooler, workers);
            if (!router.hasMembers()) {
                router = null;
            }
            Listeners listeners = Listeners.open(pooler);
            if (router != null) {
                listeners.bindServices(pooler, router);
                router.start(config.router().checkIntervalMicros());
            }
            MetricsServer metrics = null;
            if (config.pgsvc().metricsEnabled()) {
                try {
                    metrics = MetricsServer.open(config.pgsvc(), transport, workers,
                            new Metrics(pooler, router));
                } catch (InterruptedException | RuntimeException e) {
                    listeners.close();
                    if (router != null) {
                        router.close();
                    }
                    throw e;
                }
            }
            Pgsvc pgsvc = new Pgsvc(workers, pooler, router, listeners, metrics);
            pooler.processControl(pgsvc.control());
            return pgsvc;
        } catch (Exception e) {
            workers.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            throw e;
        }
    }

    /**
     * PgBouncer's "process up" line, which operators and tests take to mean that pgsvc listens and handles signals:
     * logged by whoever started it once that is so (Main, after installing the signal handlers; a SIGHUP before
     * then would end the JVM).
     */
    public void logProcessUp() {
        int loops = 0;
        for (EventExecutor ignored : workers) {
            loops++;
        }
        log.info("process up: pgsvc {}, {} event loops, transport {}", Version.VERSION, loops,
                pooler.transport().name());
    }

    /**
     * Event loops by default: half the cores, at least one. A pooler shares its machine with PostgreSQL and often
     * with its clients, and a client and its server on different loops cost a thread hand-off each way: on 2 cores
     * one loop spent about a third less CPU per transaction than two (perf/RESULTS.md). -Dpgsvc.threads=N overrides.
     */
    static int defaultThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
    }

    /**
     * RELOAD (SIGHUP): parses the file again and applies it whole; a file with an error leaves the running
     * configuration in place and says why. Settings that need a restart are named.
     */
    public boolean reload() {
        synchronized (configLock) {
            return reloadFile();
        }
    }

    private boolean reloadFile() {
        Config current = pooler.config();
        Config next;
        AuthFile auth;
        Hba hba;
        Tls tls;
        try {
            next = Config.load(current.file());
            auth = next.authFile() == null ? null : AuthFile.load(next.authFile());
            hba = Hba.loadFor(next);
            // New contexts with the files read again; connections already open keep theirs.
            tls = Tls.load(next);
        } catch (ConfigException e) {
            // The logfile is opened again all the same: logrotate's HUP must not leave pgsvc writing to the old one.
            Logging.reopen(current);
            log.error("RELOAD failed, keeping the running configuration: {}", e.getMessage());
            return false;
        }
        // The logfile first, so that the reload's own lines are in the new one.
        Logging.reopen(next);
        for (Setting s : Setting.all()) {
            if (!s.reloadable() && !java.util.Objects.equals(current.get(s.name()), next.get(s.name()))) {
                log.warn("RELOAD: {} changed, which takes effect only after a restart", s.name());
            }
        }
        if (!current.hosts().equals(next.hosts()) || !current.services().equals(next.services())
                || !current.router().equals(next.router())) {
            log.warn("RELOAD: [hosts], [services] and [router] changes take effect only after a restart");
        }
        if (!current.pgsvc().equals(next.pgsvc())) {
            log.warn("RELOAD: [pgsvc] changes take effect only after a restart");
        }
        tls.warnings().forEach(log::warn);
        pooler.reload(next, auth);
        pooler.hba(hba);
        pooler.tls(tls);
        log.info("RELOAD: configuration reloaded from {}", next.file());
        return true;
    }

    /**
     * Stops accepting and exits once nothing is left to wait for: no server connection (SIGINT, PgBouncer's
     * SHUTDOWN WAIT_FOR_SERVERS, which pauses first) or no client (SIGTERM, WAIT_FOR_CLIENTS). {@code exit} runs
     * on a thread of its own, never on an event loop.
     */
    public void shutdown(boolean waitForClients, Runnable exit) {
        pooler.shuttingDown();
        listeners.close();
        Runnable exitOnItsOwnThread = () -> new Thread(exit, "pgsvc-exit").start();
        if (!waitForClients) {
            pooler.pause(null, exitOnItsOwnThread);
            return;
        }
        workers.next().scheduleAtFixedRate(new Runnable() {
            private boolean done;

            @Override
            public void run() {
                if (!done && pooler.clientCount() == 0) {
                    done = true;
                    exitOnItsOwnThread.run();
                }
            }
        }, 0, 100, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** What a SHUTDOWN from the console runs once nothing is left to wait for, instead of {@link #close()}. */
    public void onExit(Runnable exit) {
        this.exit = exit;
    }

    /**
     * The console's SET key = value: the running configuration with that one key changed, applied as RELOAD
     * applies a file (auth_file and the HBA rules are read again when the key names them). Returns null when
     * applied, else why not: an unknown key, a bad value, or a key that needs a restart.
     */
    public String set(String key, String value) {
        Setting s = Setting.byName(key);
        if (s == null) {
            return "unknown parameter: " + key;
        }
        if (!s.reloadable()) {
            return key + " cannot be changed online, it takes effect only after a restart";
        }
        synchronized (configLock) {
            Config next;
            try {
                next = pooler.config().with(key, value);
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
            AuthFile auth = pooler.authFile();
            Hba hba = pooler.hba();
            Tls tls = pooler.tls();
            try {
                if (key.equals("auth_file")) {
                    auth = next.authFile() == null ? null : AuthFile.load(next.authFile());
                }
                if (key.equals("auth_type") || key.equals("auth_hba_file") || key.equals("auth_ident_file")) {
                    hba = Hba.loadFor(next);
                }
                if (key.contains("_tls") || key.equals("auth_type")) {
                    tls = Tls.load(next);
                }
            } catch (ConfigException e) {
                return e.getMessage();
            }
            pooler.reload(next, auth);
            pooler.hba(hba);
            pooler.tls(tls);
            log.info("SET {} = {}", key, value);
            return null;
        }
    }

    /** What the console reaches through the pooler: RELOAD, SET and SHUTDOWN of this process. */
    private ProcessControl control() {
        return new ProcessControl() {
            @Override
            public boolean reload() {
                return Pgsvc.this.reload();
            }

            @Override
            public String set(String key, String value) {
                return Pgsvc.this.set(key, value);
            }

            @Override
            public void shutdown(Shutdown mode) {
                switch (mode) {
                    case WAIT_FOR_SERVERS -> Pgsvc.this.shutdown(false, exit);
                    case WAIT_FOR_CLIENTS -> Pgsvc.this.shutdown(true, exit);
                    case IMMEDIATE -> {
                        pooler.shuttingDown();
                        new Thread(exit, "pgsvc-exit").start();
                    }
                }
            }
        };
    }

    public int port() {
        return listeners.tcpPort();
    }

    public Pooler pooler() {
        return pooler;
    }

    /** The router's current view of one member, as "up role" (e.g. "UP primary"), for tests and tools. */
    public String memberState(String name) {
        if (router == null) {
            return null;
        }
        for (MemberView m : router.topology().members()) {
            if (m.name().equals(name)) {
                return (m.up() ? "UP " : "DOWN ") + m.role().label();
            }
        }
        return null;
    }

    @Override
    public void close() {
        if (router != null) {
            router.close();
        }
        listeners.close();
        if (metrics != null) {
            metrics.close();
        }
        pooler.closeIdleServers("shutting down");
        workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
}
