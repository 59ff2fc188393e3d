package pgsvc.router;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.ConsoleTable;
import pgsvc.pooler.Endpoint;
import pgsvc.pooler.Pooler;
import pgsvc.pooler.config.Balance;
import pgsvc.pooler.config.CheckMethod;
import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.ConnectionString;
import pgsvc.pooler.config.DatabaseEntry;
import pgsvc.pooler.config.Dest;
import pgsvc.pooler.config.HostEntry;
import pgsvc.pooler.config.RouterSettings;
import pgsvc.pooler.config.ServiceEntry;
import pgsvc.pooler.config.ServiceRole;

/**
 * The router: watches the [hosts] members, keeps the live topology, and gives each [services] entry a route that
 * follows it. When a member goes down or its role changes, its pooled servers are retired and the direct sessions
 * to it are closed (HAProxy's on-marked-down shutdown-sessions), so the next transaction lands on the new member.
 */
final class Router implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Router.class);

    private final Pooler pooler;
    private final List<Member> members = new ArrayList<>();
    private final List<ServiceRoute> routes = new ArrayList<>();
    private final Map<Endpoint, Set<Channel>> sessions = new ConcurrentHashMap<>();
    private final Map<String, ServiceRoute> entryRoutes = new ConcurrentHashMap<>();
    private final Queue<Runnable> waiting = new ConcurrentLinkedQueue<>();
    private final Map<Endpoint, AtomicInteger> sessionCounts = new ConcurrentHashMap<>();
    private final AtomicInteger ties = new AtomicInteger();
    private final AtomicReference<Topology> topology = new AtomicReference<>(new Topology(0, List.of()));

    Router(Config config, Pooler pooler, EventLoopGroup loops) {
        this.pooler = pooler;
        RouterSettings settings = config.router();
        HealthCheck.Factory checks = switch (settings.check()) {
            case PATRONI -> m -> new PatroniCheck(m, settings);
            default -> m -> new SqlCheck(m, pooler, settings);
        };
        for (HostEntry host : config.hosts().values()) {
            members.add(new Member(host, settings, this, loops.next(), checks));
        }
        // Hosts of [databases] entries with target_session_attrs are watched too, if [hosts] does not list them.
        for (DatabaseEntry db : config.databases().values()) {
            if (db.targetSessionAttrs() == null) {
                continue;
            }
            for (String h : db.hosts()) {
                Endpoint e = new Endpoint(h, db.port());
                if (!config.hosts().containsKey(h) && members.stream().noneMatch(m -> m.endpoint().equals(e))) {
                    HostEntry host = HostEntry.parse(e.toString(), "host=" + h + " port=" + db.port()
                            + " cluster=" + ConnectionString.quote("db:" + db.name()));
                    members.add(new Member(host, settings, this, loops.next(), checks));
                }
            }
        }
        for (ServiceEntry service : config.services().values()) {
            routes.add(new ServiceRoute(service, this));
        }
        publish();
        if (!members.isEmpty() && settings.check() == CheckMethod.SQL && settings.checkUser() == null) {
            throw new IllegalStateException("[databases] entries with target_session_attrs need health checks: "
                    + "set check_user in [router]");
        }
        pooler.consoleExtension(this::show);
        Map<String, HostEntry> named = config.hosts();
        pooler.entryRoutes(db -> entryRoutes.computeIfAbsent(db.name(), n -> entryRoute(db, named)));
    }

    boolean hasMembers() {
        return !members.isEmpty();
    }

    /** libpq's target_session_attrs over an entry's hosts, as a service route restricted to those endpoints. */
    private ServiceRoute entryRoute(DatabaseEntry db, Map<String, HostEntry> named) {
        ServiceRole role;
        List<ServiceRole> backup = List.of();
        switch (db.targetSessionAttrs()) {
            case "read-write", "primary" -> role = ServiceRole.PRIMARY;
            case "read-only", "standby" -> role = ServiceRole.REPLICA;
            case "prefer-standby" -> {
                role = ServiceRole.REPLICA;
                backup = List.of(ServiceRole.PRIMARY);
            }
            default -> role = ServiceRole.ANY;
        }
        Set<Endpoint> endpoints = new java.util.HashSet<>();
        for (String h : db.hosts()) {
            // A host may name a [hosts] member; otherwise it is an address with the entry's port.
            HostEntry member = named.get(h);
            endpoints.add(member != null ? new Endpoint(member.host(), member.port()) : new Endpoint(h, db.port()));
        }
        ServiceEntry entry = new ServiceEntry("database " + db.name(), null, 1, role, backup, Dest.POOLER,
                Balance.ROUNDROBIN, null, HostEntry.DEFAULT_CLUSTER, 0, Map.of());
        return new ServiceRoute(entry, this, Set.copyOf(endpoints));
    }

    List<ServiceRoute> routes() {
        return routes;
    }

    Topology topology() {
        return topology.get();
    }

    /** Starts every member's checks, spread over the first interval so they do not all fire at once. */
    void start(long intervalMicros) {
        for (int i = 0; i < members.size(); i++) {
            members.get(i).start(members.size() <= 1 ? 0 : intervalMicros * i / members.size() / 4);
        }
    }

    /** Runs the task after the next topology change (clients waiting for a member to serve their route). */
    void whenChanged(Runnable retry) {
        waiting.add(retry);
    }

    /** Called on a member's loop whenever its view changes. */
    void memberChanged(MemberView old, MemberView now) {
        publish();
        boolean wasServing = old.up() && old.role() != MemberRole.UNKNOWN;
        boolean changed = old.up() != now.up() || old.role() != now.role();
        if (wasServing && changed) {
            // Nothing may keep using this member for what it was: idle pooled servers close now, busy ones on
            // release; sessions of direct services that no longer admit it are cut.
            pooler.retire(now.endpoint(), now.up() ? "member role changed" : "member down");
            closeSessions(now.endpoint(), now.up() ? "member role changed" : "member marked down");
        }
    }

    /**
     * Publishes a topology built from every member's current view. Members publish from their own loops; a lost
     * race retries with fresh views, so the last topology always holds every view set before it.
     */
    private void publish() {
        while (true) {
            Topology current = topology.get();
            List<MemberView> views = new ArrayList<>(members.size());
            for (Member m : members) {
                views.add(m.view());
            }
            if (topology.compareAndSet(current, new Topology(current.version() + 1, List.copyOf(views)))) {
                // Only the retries registered before this topology: one that finds no member again registers for
                // the next change, and must not be run again now.
                List<Runnable> retries = new ArrayList<>();
                Runnable retry;
                while ((retry = waiting.poll()) != null) {
                    retries.add(retry);
                }
                retries.forEach(Runnable::run);
                return;
            }
        }
    }

    // ---- console ---------------------------------------------------------------------------------------------

    /** SHOW HOSTS and SHOW SERVICES: the router's view, which PgBouncer's console has no equivalent of. */
    ConsoleTable show(String what) {
        Topology t = topology();
        switch (what) {
            case "HOSTS" -> {
                ConsoleTable table = ConsoleTable.of("name", "cluster", "host", "port", "state", "role", "lag_bytes",
                        "replay_age", "delayed", "sync_standby", "checks", "failed_checks", "last_error");
                for (MemberView m : t.members()) {
                    table.row(m.name(), m.host().cluster(), m.host().host(), m.host().port(), m.up() ? "up" : "down",
                            m.role().label(), t.lagBytes(m),
                            m.replayAgeSeconds() < 0 ? null : String.format("%.3f", m.replayAgeSeconds()),
                            m.delayed() ? 1 : 0, t.isSyncStandby(m) ? 1 : 0, m.checks(), m.failures(), m.lastError());
                }
                return table;
            }
            case "SERVICES" -> {
                ConsoleTable table = ConsoleTable.of("name", "port", "role", "backup", "dest", "balance", "max_lag",
                        "maxconn", "serving", "members");
                for (ServiceRoute route : routes) {
                    ServiceEntry e = route.service();
                    StringBuilder backup = new StringBuilder();
                    for (ServiceRole r : e.backup()) {
                        backup.append(backup.length() == 0 ? "" : ",").append(r.configName());
                    }
                    ServiceRole tier = route.tier();
                    table.row(e.name(), e.port(), e.role().configName(), backup, e.dest().configName(),
                            e.balance().configName(), e.maxLagBytes(), e.maxconn(),
                            tier == null ? null : tier.configName(), String.join(",", route.memberNames()));
                }
                return table;
            }
            default -> {
                return null;
            }
        }
    }

    // ---- direct sessions (dest=postgres) --------------------------------------------------------------------------

    void sessionOpened(Endpoint endpoint, Channel client) {
        sessions.computeIfAbsent(endpoint, e -> ConcurrentHashMap.newKeySet()).add(client);
        sessionCounts.computeIfAbsent(endpoint, e -> new AtomicInteger()).incrementAndGet();
    }

    void sessionClosed(Endpoint endpoint, Channel client) {
        Set<Channel> set = sessions.get(endpoint);
        if (set != null && set.remove(client)) {
            sessionCounts.get(endpoint).decrementAndGet();
        }
    }

    /** Direct (dest=postgres) sessions open to a member now. */
    int sessionCount(Endpoint endpoint) {
        AtomicInteger c = sessionCounts.get(endpoint);
        return c == null ? 0 : c.get();
    }

    private void closeSessions(Endpoint endpoint, String reason) {
        Set<Channel> set = sessions.get(endpoint);
        if (set == null || set.isEmpty()) {
            return;
        }
        log.info("closing {} sessions to {}: {}", set.size(), endpoint, reason);
        for (Channel ch : set) {
            ch.close();
        }
    }

    /** Least connections among members, ties broken in turn so that equal members share the load. */
    Endpoint leastConnected(List<MemberView> candidates) {
        Endpoint best = null;
        int bestCount = Integer.MAX_VALUE;
        int offset = Math.floorMod(ties.getAndIncrement(), Math.max(1, candidates.size()));
        for (int i = 0; i < candidates.size(); i++) {
            MemberView m = candidates.get((i + offset) % candidates.size());
            if (m.host().weight() <= 0) {
                continue;
            }
            AtomicInteger c = sessionCounts.get(m.endpoint());
            int count = c == null ? 0 : c.get();
            if (count < bestCount) {
                best = m.endpoint();
                bestCount = count;
            }
        }
        return best != null ? best : candidates.get(ThreadLocalRandom.current().nextInt(candidates.size())).endpoint();
    }

    @Override
    public void close() {
        for (Member m : members) {
            m.stop();
        }
    }
}
