package pgsvc.router;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import pgsvc.pooler.config.RouterSettings;

/**
 * Checks a member through Patroni's REST API ({@code GET /patroni}), the HA engine users already run: Patroni's own
 * view of role, state, WAL positions and synchronous standbys. The request runs on the HTTP client's threads and the
 * answer is handed back to the member's event loop, which never waits on it.
 */
final class PatroniCheck implements HealthCheck {
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(3))
            .version(HttpClient.Version.HTTP_1_1)
            .build();

    private final Member member;
    private final RouterSettings settings;
    private final URI uri;
    private CompletableFuture<?> inFlight;

    PatroniCheck(Member member, RouterSettings settings) {
        this.member = member;
        this.settings = settings;
        String host = member.host().patroniHost() != null ? member.host().patroniHost() : member.host().host();
        int port = member.host().patroniPort() != null ? member.host().patroniPort() : settings.patroniPort();
        this.uri = URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/patroni");
    }

    @Override
    public void run() {
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(Duration.ofNanos(settings.checkTimeoutMicros() * 1000))
                .GET().build();
        inFlight = HTTP.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
                .whenComplete((response, error) -> member.loop().execute(() -> {
                    if (error != null) {
                        member.failed("patroni: " + error.getMessage());
                    } else {
                        judge(response.statusCode(), response.body());
                    }
                }));
    }

    private void judge(int status, byte[] body) {
        Object doc;
        try {
            doc = Json.parse(body);
        } catch (Exception e) {
            member.failed("patroni: unreadable answer (HTTP " + status + "): " + e.getMessage());
            return;
        }
        Object state = Json.at(doc, "state");
        if (!"running".equals(state)) {
            member.failed("patroni: postgres state is " + state);
            return;
        }
        Object role = Json.at(doc, "role");
        MemberRole r;
        long lsn;
        if ("master".equals(role) || "primary".equals(role)) {
            r = MemberRole.PRIMARY;
            lsn = number(Json.at(doc, "xlog", "location"));
        } else if ("replica".equals(role) || "standby_leader".equals(role) || "sync_standby".equals(role)) {
            r = MemberRole.REPLICA;
            lsn = number(Json.at(doc, "xlog", "replayed_location"));
        } else {
            member.failed("patroni: role is " + role);
            return;
        }
        Set<String> sync = new HashSet<>();
        if (Json.at(doc, "replication") instanceof List<?> list) {
            for (Object o : list) {
                Object name = Json.at(o, "application_name");
                Object syncState = Json.at(o, "sync_state");
                if (name instanceof String n && ("sync".equals(syncState) || "quorum".equals(syncState))) {
                    sync.add(n);
                }
            }
        }
        member.passed(r, lsn, false, Set.copyOf(sync), -1);
    }

    private static long number(Object o) {
        return o instanceof Number n ? n.longValue() : 0;
    }

    @Override
    public void close() {
        if (inFlight != null) {
            inFlight.cancel(true);
        }
    }
}
