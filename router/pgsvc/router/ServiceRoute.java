package pgsvc.router;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

import pgsvc.pooler.Endpoint;
import pgsvc.pooler.Route;
import pgsvc.pooler.config.Balance;
import pgsvc.pooler.config.ServiceEntry;
import pgsvc.pooler.config.ServiceRole;

/**
 * A service's choice of member, from the router's live topology: the members eligible for the service's role, or
 * when none is, for its backup roles in order; among those by round robin, least connections or at random, by
 * weight. What it derives from a topology is cached until the topology changes, so a choice costs a volatile read
 * and a counter increment.
 */
final class ServiceRoute implements Route {
    private final ServiceEntry service;
    private final Router router;
    private final Set<Endpoint> only;
    private final AtomicInteger next = new AtomicInteger();
    private volatile Choice choice = new Choice(-1, List.of(), new Endpoint[0], null);

    /** The eligible tier for one topology, its members repeated by weight for round robin. */
    private record Choice(long version, List<MemberView> members, Endpoint[] weighted, ServiceRole tier) {
    }

    ServiceRoute(ServiceEntry service, Router router) {
        this(service, router, null);
    }

    /** A route over just these endpoints, whatever their cluster: a [databases] entry's host list. */
    ServiceRoute(ServiceEntry service, Router router, Set<Endpoint> only) {
        this.service = service;
        this.router = router;
        this.only = only;
    }

    ServiceEntry service() {
        return service;
    }

    @Override
    public String name() {
        return service.name();
    }

    @Override
    public boolean readOnly() {
        return service.role() != ServiceRole.PRIMARY && service.role() != ServiceRole.ANY;
    }

    @Override
    public void whenChanged(Runnable retry) {
        router.whenChanged(retry);
    }

    @Override
    public Endpoint select() {
        Choice c = current();
        Endpoint[] w = c.weighted();
        if (w.length == 0) {
            return null;
        }
        return switch (service.balance()) {
            case RANDOM -> w[ThreadLocalRandom.current().nextInt(w.length)];
            case LEASTCONN -> router.leastConnected(c.members());
            default -> w[Math.floorMod(next.getAndIncrement(), w.length)];
        };
    }

    /** The role whose members serve this service now (its own or a backup), or null when none can. */
    ServiceRole tier() {
        return current().tier();
    }

    /** Names of the members this service chooses from now. */
    List<String> memberNames() {
        List<String> names = new ArrayList<>();
        for (MemberView m : current().members()) {
            names.add(m.name());
        }
        return names;
    }

    private Choice current() {
        Topology t = router.topology();
        Choice c = choice;
        if (c.version() != t.version()) {
            c = compute(t);
            choice = c;
        }
        return c;
    }

    private Choice compute(Topology t) {
        List<ServiceRole> tiers = new ArrayList<>();
        tiers.add(service.role());
        tiers.addAll(service.backup());
        for (ServiceRole tier : tiers) {
            List<MemberView> members = new ArrayList<>();
            for (MemberView m : t.members()) {
                if (eligible(t, m, tier)) {
                    members.add(m);
                }
            }
            List<Endpoint> weighted = new ArrayList<>();
            for (MemberView m : members) {
                for (int i = 0; i < Math.max(0, m.host().weight()); i++) {
                    weighted.add(m.endpoint());
                }
            }
            if (!weighted.isEmpty()) {
                // Interleave so that round robin alternates members rather than serving one's weight in a row.
                return new Choice(t.version(), List.copyOf(members), interleave(members), tier);
            }
        }
        return new Choice(t.version(), List.of(), new Endpoint[0], null);
    }

    private static Endpoint[] interleave(List<MemberView> members) {
        int gcd = 0;
        for (MemberView m : members) {
            gcd = gcd(gcd, Math.max(0, m.host().weight()));
        }
        List<Endpoint> out = new ArrayList<>();
        int[] left = new int[members.size()];
        for (int i = 0; i < left.length; i++) {
            left[i] = Math.max(0, members.get(i).host().weight()) / Math.max(1, gcd);
        }
        boolean any = true;
        while (any) {
            any = false;
            for (int i = 0; i < left.length; i++) {
                if (left[i] > 0) {
                    left[i]--;
                    out.add(members.get(i).endpoint());
                    any = true;
                }
            }
        }
        return out.toArray(new Endpoint[0]);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** Role semantics of a service tier; the primary is exempt from max_lag. */
    boolean eligible(Topology t, MemberView m, ServiceRole role) {
        if (!m.up() || m.role() == MemberRole.UNKNOWN) {
            return false;
        }
        if (only != null ? !only.contains(m.endpoint()) : !m.host().cluster().equals(service.cluster())) {
            return false;
        }
        boolean replica = m.role() == MemberRole.REPLICA;
        Long maxLag = service.maxLagBytes();
        boolean lagOk = !replica || maxLag == null || t.lagBytes(m) <= maxLag;
        return switch (role) {
            case PRIMARY -> m.role() == MemberRole.PRIMARY;
            case REPLICA -> replica && !m.host().offline() && !m.host().noloadbalance() && !m.delayed() && lagOk;
            case OFFLINE -> replica && m.host().offline() && lagOk;
            case STANDBY -> replica && t.isSyncStandby(m) && lagOk;
            case DELAYED -> replica && m.delayed();
            case ANY -> lagOk;
        };
    }
}
