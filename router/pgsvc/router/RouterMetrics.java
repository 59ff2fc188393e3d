package pgsvc.router;

import pgsvc.pooler.Pooler;
import pgsvc.pooler.config.ServiceEntry;
import pgsvc.pooler.config.ServiceRole;

/**
 * The router's series: what SHOW HOSTS and SHOW SERVICES show, per member and per service, plus the connections each
 * member carries. Read from the router's current topology, which is an immutable snapshot, so any thread may write
 * them.
 */
final class RouterMetrics {
    private RouterMetrics() {
    }

    static void write(PrometheusText text, Router router, Pooler pooler) {
        Topology t = router.topology();
        PrometheusText.Family up = text.family("pgsvc_member_up", "gauge",
                "1 while the member passes its health checks (rise/fall), else 0");
        PrometheusText.Family role = text.family("pgsvc_member_role", "gauge",
                "1 for the member's confirmed role: primary, replica, or unknown while a change is confirmed");
        PrometheusText.Family lag = text.family("pgsvc_member_lag_bytes", "gauge",
                "Replay lag of a replica behind its cluster's primary, in bytes; 0 for a primary");
        PrometheusText.Family age = text.family("pgsvc_member_replay_age_seconds", "gauge",
                "Seconds since the last transaction a replica replayed committed on the primary");
        PrometheusText.Family checks = text.family("pgsvc_member_checks_total", "counter",
                "Health checks run against the member");
        PrometheusText.Family failures = text.family("pgsvc_member_failed_checks_total", "counter",
                "Health checks of the member that failed");
        PrometheusText.Family pooled = text.family("pgsvc_member_server_connections", "gauge",
                "Pooled server connections to the member, open or opening");
        PrometheusText.Family direct = text.family("pgsvc_member_direct_connections", "gauge",
                "Sessions of direct (dest=postgres) services passed through to the member");
        for (MemberView m : t.members()) {
            String name = m.name();
            String cluster = m.host().cluster();
            up.sample(m.up() ? 1 : 0, "member", name, "cluster", cluster, "host", m.host().host(), "port",
                    Integer.toString(m.host().port()));
            role.sample(1, "member", name, "cluster", cluster, "role", m.role().label());
            lag.sample(t.lagBytes(m), "member", name, "cluster", cluster);
            if (m.role() == MemberRole.REPLICA && m.replayAgeSeconds() >= 0) {
                age.sample(m.replayAgeSeconds(), "member", name, "cluster", cluster);
            }
            checks.sample(m.checks(), "member", name, "cluster", cluster);
            failures.sample(m.failures(), "member", name, "cluster", cluster);
            pooled.sample(pooler.serverCount(m.endpoint()), "member", name, "cluster", cluster);
            direct.sample(router.sessionCount(m.endpoint()), "member", name, "cluster", cluster);
        }

        PrometheusText.Family serviceUp = text.family("pgsvc_service_up", "gauge",
                "1 while some member can serve the service (its role or a backup role), else 0");
        PrometheusText.Family serving = text.family("pgsvc_service_members", "gauge",
                "Members the service chooses from now");
        PrometheusText.Family backup = text.family("pgsvc_service_backup_active", "gauge",
                "1 while the service is served by a backup role because no member has its own role");
        for (ServiceRoute route : router.routes()) {
            ServiceEntry e = route.service();
            ServiceRole tier = route.tier();
            serviceUp.sample(tier != null ? 1 : 0, "service", e.name(), "port", Integer.toString(e.port()), "role",
                    e.role().configName(), "dest", e.dest().configName());
            serving.sample(route.memberNames().size(), "service", e.name());
            backup.sample(tier != null && tier != e.role() ? 1 : 0, "service", e.name());
        }
    }
}
