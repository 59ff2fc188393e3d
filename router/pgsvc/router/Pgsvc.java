package pgsvc.router;

import java.nio.file.Path;

import io.netty.channel.EventLoopGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Pooler;
import pgsvc.pooler.Transport;
import pgsvc.pooler.config.AuthFile;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConfigException;

/** One running pgsvc: event loops, the pooler and its listeners. Main runs one; tests start them in-process. */
public final class Pgsvc implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Pgsvc.class);

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Pooler pooler;
    private final Router router;
    private final Listeners listeners;

    private Pgsvc(EventLoopGroup boss, EventLoopGroup workers, Pooler pooler, Router router, Listeners listeners) {
        this.boss = boss;
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
        for (String name : Coverage.notApplied(config)) {
            log.warn("setting {} is accepted but not applied by this version of pgsvc", name);
        }
        Transport transport = Transport.detect();
        int threads = Integer.getInteger("pgsvc.threads", Runtime.getRuntime().availableProcessors());
        EventLoopGroup boss = transport.newGroup(1, "pgsvc-accept");
        EventLoopGroup workers = transport.newGroup(threads, "pgsvc-io");
        try {
            Pooler pooler = new Pooler(config, authFile, transport, workers);
            pooler.startJanitor();
            Router router = new Router(config, pooler, workers);
            if (!router.hasMembers()) {
                router = null;
            }
            Listeners listeners = Listeners.open(pooler, boss);
            if (router != null) {
                listeners.bindServices(pooler, boss, router);
                router.start(config.router().checkIntervalMicros());
            }
            log.info("process up: pgsvc {}, {} event loops, transport {}", Version.VERSION, threads, transport.name());
            return new Pgsvc(boss, workers, pooler, router, listeners);
        } catch (Exception e) {
            boss.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.SECONDS);
            throw e;
        }
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
        pooler.closeIdleServers("shutting down");
        boss.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
}
