package pgsvc.pooler;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ObjLongConsumer;

import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.protocol.ErrorFields;

/**
 * The server connections of one (database, user) pair and the clients waiting for one. Every state change runs in
 * the pool's {@link SerialExecutor}; hand-offs then continue on the client's event loop. Idle servers are kept per
 * event loop so that a client is given a server on its own loop whenever one is idle there.
 */
final class Pool {
    private static final Logger log = LoggerFactory.getLogger(Pool.class);

    final PoolKey key;
    final Pooler pooler;
    volatile PoolSettings settings;
    /** This (database, user)'s statistics, shared with the pools it had before; written by clients on their loops. */
    final PoolStats stats;

    private final SerialExecutor exec = new SerialExecutor();
    /**
     * The steps every transaction takes, made once: run at once in the executor, with the client and the server on one
     * event loop, they allocate nothing.
     */
    private final ObjLongConsumer<ClientConnection> acquireStep = (client, unused) -> acquireNow(client);
    private final ObjLongConsumer<ServerConnection> releaseStep = this::releaseNow;
    private final WaitQueue<ClientConnection> waiters;
    /**
     * Logged-in clients attached to this pool, waiting or not (PgBouncer's active plus waiting client lists): SHOW
     * POOLS's cl_active is this less the waiters. Changed at login, close and a routed client's move to another pool,
     * never per transaction; shared with the retired pool this one replaced, whose idle clients move here at their
     * next transaction.
     */
    private final AtomicInteger clients;
    /**
     * Of those, the routed clients whose route has no member to serve it now (a failover under way): waiting as much as
     * the queued ones, so SHOW POOLS counts them in cl_waiting, in the pool they were in last. Shared as clients is.
     */
    private final AtomicInteger routing;
    /** When the server takeIdle last returned went idle (executor-confined). */
    private long takenIdleSince;
    private boolean used;
    /** When this pool was last seen with no server and no waiting client (autodb_idle_timeout); 0 = in use. */
    private long emptySince;
    private boolean capped;
    private final ArrayDeque<ServerConnection>[] idle;
    private int servers;
    private int connecting;
    private int active;
    private volatile boolean retired;
    private boolean paused;
    private final List<Runnable> drained = new java.util.ArrayList<>();
    private ErrorFields loginError;
    private long loginErrorAt;

    /** The ParameterStatus set of the first server login, replayed to every client at login. */
    private volatile Welcome welcome;

    @SuppressWarnings("unchecked")
    Pool(Pooler pooler, PoolKey key, PoolSettings settings, Pool replaced) {
        this.pooler = pooler;
        this.key = key;
        this.settings = settings;
        this.clients = replaced != null ? replaced.clients : new AtomicInteger();
        this.routing = replaced != null ? replaced.routing : new AtomicInteger();
        this.stats = pooler.stats().of(key.database(), key.user());
        this.waiters = new WaitQueue<>(pooler.loopCount());
        this.idle = new ArrayDeque[pooler.loopCount()];
        for (int i = 0; i < idle.length; i++) {
            idle[i] = new ArrayDeque<>();
        }
    }

    /**
     * PAUSE: hand out no more servers, close each as it is released, and run {@code onDrained} once this pool has
     * no server connection left; clients keep waiting for RESUME (or their query_wait_timeout).
     */
    void pause(Runnable onDrained) {
        exec.execute(() -> {
            paused = true;
            drained.add(onDrained);
            for (ArrayDeque<ServerConnection> list : idle) {
                ServerConnection server;
                while ((server = list.pollFirst()) != null) {
                    server.close("pause");
                }
            }
            checkDrained();
        });
    }

    void resume() {
        exec.execute(() -> {
            paused = false;
            drained.clear();
            if (!waiters.isEmpty()) {
                launchIfNeeded(waiters.peekFirst().loop());
            }
        });
    }

    private void checkDrained() {
        if (paused && servers == 0 && !drained.isEmpty()) {
            List<Runnable> done = new java.util.ArrayList<>(drained);
            drained.clear();
            done.forEach(Runnable::run);
        }
    }

    boolean isRetired() {
        return retired;
    }

    void retire(String reason) {
        retired = true;
        pooler.markCloseNeeded(this);
        closeIdle(reason);
        // Waiters were headed for this endpoint; they choose again through their route.
        exec.execute(() -> {
            ClientConnection waiter;
            while ((waiter = nextWaiter()) != null) {
                waiter.reroute();
            }
        });
    }

    Welcome welcome() {
        return welcome;
    }

    /** Finds a server for a client: an idle one (its own loop first), else it queues and a new one may be launched. */
    void acquire(ClientConnection client) {
        exec.execute(acquireStep, client, 0);
    }

    private void acquireNow(ClientConnection client) {
        if (retired) {
            // Retired (or dropped as an unused autodb) between the client's choice and now: choose again.
            client.reroute();
            return;
        }
        ServerConnection server = paused ? null : takeIdle(client.loopIndex());
        if (server != null) {
            if (needsCheck()) {
                // PgBouncer's "used" server: idle past server_check_delay, it runs server_check_query first
                // and the client, first in line, gets it at the check's ReadyForQuery.
                waiters.addFirst(client);
                active++;
                server.inUse = true;
                server.check(settings.checkQuery());
                return;
            }
            // The client's request is this hand-off's time, as PgBouncer's cached clock would have it.
            handOff(client, server, client.requestNanos());
            return;
        }
        if (!paused && loginError != null && servers == connecting) {
            // PgBouncer's check_fast_fail: until a login succeeds again, a client that would wait for a pool with
            // no server up is told why at once, rather than queueing behind attempts that keep failing; it starts
            // the next attempt (one per server_login_retry), as no waiter is left to make the janitor do it.
            client.fail(ErrorFields.fatal("08P01", "server login has been failing, cached error: "
                    + loginError.message() + " (server_login_retry)"));
            launch(client.loop(), 1, settings.poolSize());
            return;
        }
        waiters.addLast(client);
        used = true;
        if (!paused) {
            launchIfNeeded(client.loop());
        }
    }

    /** A server is free again (transaction end, reset done, or client gone while it was clean). */
    void release(ServerConnection server) {
        release(server, System.nanoTime());
    }

    /** The same at {@code now} (System.nanoTime()), when the caller has just read the clock. */
    void release(ServerConnection server, long now) {
        exec.execute(releaseStep, server, now);
    }

    private void releaseNow(ServerConnection server, long now) {
        if (!server.inUse) {
            return;
        }
        server.inUse = false;
        active--;
        if (server.isClosed()) {
            return;
        }
        if (server.expired(now)) {
            server.close("server lifetime over");
            return;
        }
        if (retired) {
            server.close("server role changed");
            return;
        }
        if (server.closeNeeded) {
            server.close("obsolete connection");
            return;
        }
        offer(server, now);
    }

    void serverLoggedIn(ServerConnection server) {
        exec.execute(() -> {
            connecting--;
            loginError = null;
            if (welcome == null) {
                welcome = new Welcome(server.parameters(), pooler.trackedParams());
            }
            if (server.isClosed()) {
                return;
            }
            offer(server, System.nanoTime());
        });
    }

    void serverLoginFailed(ServerConnection server, ErrorFields error) {
        exec.execute(() -> {
            connecting--;
            servers--;
            pooler.serverSlotFreed(this);
            loginError = error;
            loginErrorAt = System.nanoTime();
            log.warn("S-{}: {} login failed: {}", server.id(), key, error.message());
            // PostgreSQL's own error reaches the clients that were waiting for this pool: nothing else can serve them.
            if (servers == 0 && !"57P03".equals(error.sqlState())) {
                ClientConnection waiter;
                while ((waiter = nextWaiter()) != null) {
                    waiter.fail(ErrorFields.fatal(error.sqlState(), error.message()));
                }
            }
            checkDrained();
        });
    }

    /** A server connection failed before login, for a network reason; waiters stay queued until their timeouts. */
    void serverConnectFailed(ServerConnection server, String reason) {
        exec.execute(() -> {
            connecting--;
            servers--;
            pooler.serverSlotFreed(this);
            settings.hostFailed();
            loginError = ErrorFields.fatal("08006", reason);
            loginErrorAt = System.nanoTime();
            checkDrained();
        });
    }

    void serverClosed(ServerConnection server) {
        exec.execute(() -> {
            servers--;
            if (server.inUse) {
                server.inUse = false;
                active--;
            } else {
                idle[server.loopIndex()].remove(server);
            }
            pooler.serverSlotFreed(this);
            if (!waiters.isEmpty() && !paused) {
                launchIfNeeded(waiters.peekFirst().loop());
            }
            checkDrained();
        });
    }

    /** A client logged in to this pool, or a routed client moved here; it counts in cl_active until it waits. */
    void clientJoined() {
        clients.incrementAndGet();
    }

    /** A client of this pool waits for its route to have a member ({@code true}), or no longer does. */
    void clientRouting(boolean waits) {
        if (waits) {
            routing.incrementAndGet();
        } else {
            routing.decrementAndGet();
        }
    }

    /**
     * A client closed or moved to another pool. A waiting one leaves the queue in the same step as the count, so
     * that SHOW POOLS never sees it gone from one and not the other.
     */
    void clientLeft(ClientConnection client, boolean waiting) {
        if (!waiting) {
            clients.decrementAndGet();
            return;
        }
        exec.execute(() -> {
            waiters.remove(client);
            clients.decrementAndGet();
        });
    }

    /** query_wait_timeout: the client is failed only if it is still queued when the timer fires. */
    void waitTimedOut(ClientConnection client) {
        exec.execute(() -> {
            if (waiters.remove(client)) {
                client.fail(ErrorFields.fatal("08P01", "query_wait_timeout"));
            }
        });
    }

    private void offer(ServerConnection server, long now) {
        if (retired || paused) {
            server.close(paused ? "pause" : "server role changed");
            return;
        }
        ClientConnection waiter = waiters.pollFor(server.loopIndex());
        if (waiter != null) {
            handOff(waiter, server, now);
            return;
        }
        server.idleSince = now;
        if (settings.roundRobin()) {
            idle[server.loopIndex()].addLast(server);
        } else {
            idle[server.loopIndex()].addFirst(server);
        }
    }

    private ClientConnection nextWaiter() {
        return waiters.pollFirst();
    }

    private ServerConnection takeIdle(int loopIndex) {
        ServerConnection server = idle[loopIndex].pollFirst();
        for (int i = 0; server == null && i < idle.length; i++) {
            server = idle[i].pollFirst();
        }
        if (server != null) {
            takenIdleSince = server.idleSince;
        }
        return server;
    }

    /** Whether the server takeIdle just returned has been idle long enough to need server_check_query. */
    private boolean needsCheck() {
        return settings.checkQuery() != null
                && System.nanoTime() - takenIdleSince >= TimeUnit.MICROSECONDS.toNanos(settings.checkDelayMicros());
    }

    private void handOff(ClientConnection client, ServerConnection server, long now) {
        active++;
        server.inUse = true;
        server.assign(client, now);
        EventLoop loop = client.loop();
        if (loop.inEventLoop()) {
            client.serverAssigned(server);
        } else {
            loop.execute(() -> client.serverAssigned(server));
        }
    }

    private boolean loginFailing() {
        return loginError != null
                && System.nanoTime() - loginErrorAt < TimeUnit.MICROSECONDS.toNanos(settings.loginRetryMicros());
    }

    private void launchIfNeeded(EventLoop loop) {
        launch(loop, waiters.size(), settings.poolSize());
    }

    /**
     * Opens servers while fewer are connecting than {@code wanted} and the pool is under {@code limit} (0 = no
     * limit). max_db_connections and max_user_connections are shared by pools: at those caps an idle server of a
     * sibling pool is closed to make room, and this pool is woken when a slot frees.
     */
    private void launch(EventLoop loop, int wanted, int limit) {
        if (loginFailing() || paused) {
            return;
        }
        while (connecting < wanted && (limit == 0 || servers < limit)) {
            if (!pooler.takeServerSlot(this)) {
                capped = true;
                pooler.evictIdleFor(this);
                return;
            }
            servers++;
            connecting++;
            ServerConnection.connect(this, loop);
        }
    }

    /** SHOW POOLS's row for this pool, taken inside the executor so that the counts agree with each other. */
    void snapshot(java.util.function.Consumer<Object[]> row) {
        exec.execute(() -> {
            int idleCount = 0;
            for (ArrayDeque<ServerConnection> list : idle) {
                idleCount += list.size();
            }
            long waitedNanos = 0;
            ClientConnection oldest = waiters.peekFirst();
            if (oldest != null) {
                waitedNanos = System.nanoTime() - oldest.waitStart();
            }
            long waitedMicros = TimeUnit.NANOSECONDS.toMicros(waitedNanos);
            PoolSettings s = settings;
            // PgBouncer's cl_active: every logged-in client of the pool that is not waiting, idle ones included.
            int waiting = waiters.size() + Math.max(0, routing.get());
            int clientsActive = Math.max(0, clients.get() - waiting);
            row.accept(new Object[] {key.database() + (key.endpoint() == null ? "" : "@" + key.endpoint()),
                key.user(), clientsActive, waiting, 0, 0, active, 0, 0, idleCount, 0, 0, connecting,
                waitedMicros / 1_000_000, waitedMicros % 1_000_000, s.mode().configName(),
                s.hosts().size() > 1 ? (s.stickyHost() ? "disable" : "round-robin") : null});
        });
    }

    /** RELOAD changed sizes or timeouts (not where the servers are): they apply from now on. */
    void reconfigure(PoolSettings next) {
        exec.execute(() -> {
            settings = next;
            if (!waiters.isEmpty()) {
                launchIfNeeded(waiters.peekFirst().loop());
            }
        });
    }

    /** A server slot under max_db/max_user_connections freed up elsewhere: waiters may get a server now. */
    void slotFreed() {
        exec.execute(() -> {
            if (capped && !waiters.isEmpty()) {
                capped = false;
                launchIfNeeded(waiters.peekFirst().loop());
            }
        });
    }

    /** Closes the longest-idle server, if any, to make room for a sibling pool at a shared cap. */
    void evictOneIdle() {
        exec.execute(() -> {
            ServerConnection oldest = null;
            for (ArrayDeque<ServerConnection> list : idle) {
                for (ServerConnection server : list) {
                    if (oldest == null || server.idleSince - oldest.idleSince < 0) {
                        oldest = server;
                    }
                }
            }
            if (oldest != null) {
                idle[oldest.loopIndex()].remove(oldest);
                oldest.close("evicted for another pool (max_db_connections/max_user_connections)");
            }
        });
    }

    /**
     * The janitor's round (PgBouncer's, every third of a second): idle servers past server_idle_timeout (above
     * min_pool_size) or past their lifetime close; min_pool_size is kept warm for pools that have had a client or
     * have a forced user; a waiter queued longer than reserve_pool_timeout opens a reserve server.
     */
    void maintain(EventLoop loop, boolean forcedUser, long autodbIdleMicros) {
        exec.execute(() -> {
            long now = System.nanoTime();
            if (autodbIdleMicros > 0 && servers == 0 && active == 0 && waiters.isEmpty() && clients.get() == 0) {
                // A pool of a database the `*` entry made up goes away once unused (no client logged in, no
                // server), as PgBouncer frees autodbs.
                if (emptySince == 0) {
                    emptySince = now;
                } else if (now - emptySince > TimeUnit.MICROSECONDS.toNanos(autodbIdleMicros)) {
                    retired = true;
                    pooler.dropPool(this);
                    return;
                }
            } else {
                emptySince = 0;
            }
            long idleTimeout = TimeUnit.MICROSECONDS.toNanos(settings.idleTimeoutMicros());
            for (ArrayDeque<ServerConnection> list : idle) {
                for (Iterator<ServerConnection> it = list.iterator(); it.hasNext(); ) {
                    ServerConnection server = it.next();
                    boolean idleTooLong = idleTimeout > 0 && now - server.idleSince > idleTimeout
                            && servers > settings.minPoolSize();
                    if (idleTooLong || server.expired(now)) {
                        it.remove();
                        server.close(idleTooLong ? "server idle timeout" : "server lifetime over");
                    }
                }
            }
            int min = Math.min(settings.minPoolSize(), settings.poolSize() == 0 ? Integer.MAX_VALUE
                    : settings.poolSize());
            if (min > 0 && (used || forcedUser) && servers < min && !retired) {
                launch(loop, min - servers + connecting, min);
            }
            ClientConnection oldest = waiters.peekFirst();
            if (oldest != null && connecting == 0) {
                // After a failed connect or login, retry for the waiting clients once server_login_retry passed.
                launchIfNeeded(oldest.loop());
            }
            long reserveAfter = TimeUnit.MICROSECONDS.toNanos(settings.reservePoolTimeoutMicros());
            if (oldest != null && settings.reservePoolSize() > 0 && reserveAfter > 0
                    && now - oldest.waitStart() >= reserveAfter && connecting == 0) {
                int limit = settings.poolSize() == 0 ? 0 : settings.poolSize() + settings.reservePoolSize();
                if (limit == 0 || servers < limit) {
                    log.info("{}: taking connection from reserve_pool", key);
                    launch(oldest.loop(), 1, limit);
                }
            }
        });
    }

    /** Closes every idle server, e.g. at shutdown. */
    void closeIdle(String reason) {
        exec.execute(() -> {
            for (ArrayDeque<ServerConnection> list : idle) {
                for (Iterator<ServerConnection> it = list.iterator(); it.hasNext(); ) {
                    ServerConnection server = it.next();
                    it.remove();
                    server.close(reason);
                }
            }
        });
    }

    @Override
    public String toString() {
        return key.toString();
    }
}
