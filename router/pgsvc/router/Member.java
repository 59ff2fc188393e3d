package pgsvc.router;

import java.util.Set;
import java.util.concurrent.TimeUnit;

import io.netty.channel.EventLoop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.Endpoint;
import pgsvc.pooler.config.HostEntry;
import pgsvc.pooler.config.RouterSettings;

/**
 * One watched PostgreSQL member and its health, judged as HAProxy does: {@code rise} passing checks to come UP,
 * {@code fall} failing ones to go DOWN, checked every inter / fastinter (in transition) / downinter (while DOWN).
 * Unlike HAProxy a member starts DOWN: nobody is routed to it before its first check has said what it is. A role
 * change is confirmed by {@code rise} checks too, but the old role is dropped at the first check that contradicts
 * it, so a demoted primary never keeps serving the primary service. State is confined to the member's event loop.
 */
final class Member {
    private static final Logger log = LoggerFactory.getLogger(Member.class);

    private final HostEntry host;
    private final Endpoint endpoint;
    private final RouterSettings settings;
    private final Router router;
    private final EventLoop loop;
    private final HealthCheck check;

    private boolean up;
    private boolean checked;
    private int passes;
    private int failures;
    private MemberRole observed = MemberRole.UNKNOWN;
    private int observedStreak;
    private MemberRole confirmed = MemberRole.UNKNOWN;
    private long checks;
    private long failedChecks;
    private boolean stopped;
    private volatile MemberView view;

    Member(HostEntry host, RouterSettings settings, Router router, EventLoop loop, HealthCheck.Factory checks) {
        this.host = host;
        this.endpoint = new Endpoint(host.host(), host.port());
        this.settings = settings;
        this.router = router;
        this.loop = loop;
        this.view = new MemberView(host, endpoint, false, MemberRole.UNKNOWN, 0, false, Set.of(), -1,
                "not checked yet", 0, 0);
        this.check = checks.create(this);
    }

    String name() {
        return host.name();
    }

    HostEntry host() {
        return host;
    }

    Endpoint endpoint() {
        return endpoint;
    }

    EventLoop loop() {
        return loop;
    }

    MemberView view() {
        return view;
    }

    void start(long offsetMicros) {
        loop.schedule(this::runCheck, offsetMicros, TimeUnit.MICROSECONDS);
    }

    void stop() {
        loop.execute(() -> {
            stopped = true;
            check.close();
        });
    }

    private void runCheck() {
        if (!stopped) {
            check.run();
        }
    }

    /** A check answered: the member is reachable and reports this role and position. */
    void passed(MemberRole role, long lsn, boolean delayed, Set<String> syncNames, double replayAge) {
        checks++;
        failures = 0;
        if (role == observed) {
            observedStreak++;
        } else {
            observed = role;
            observedStreak = 1;
        }
        if (!checked) {
            // The first answer is trusted at once: nothing has been routed to this member yet.
            checked = true;
            up = true;
            confirmed = role;
            passes = settings.rise();
        } else if (!up && ++passes >= settings.rise()) {
            up = true;
        }
        if (confirmed != observed) {
            confirmed = observedStreak >= settings.rise() ? observed : MemberRole.UNKNOWN;
        }
        publish(lsn, delayed, syncNames, replayAge, null);
        scheduleNext();
    }

    /** A check failed: no connection, login refused, timeout or an error from the check query. */
    void failed(String reason) {
        checks++;
        failedChecks++;
        checked = true;
        passes = 0;
        failures++;
        if (up && failures >= settings.fall()) {
            up = false;
        }
        MemberView v = view;
        publish(v.lsn(), v.delayed(), v.syncNames(), v.replayAgeSeconds(), reason);
        scheduleNext();
    }

    private void publish(long lsn, boolean delayed, Set<String> syncNames, double replayAge, String error) {
        MemberView old = view;
        MemberView next = new MemberView(host, endpoint, up, confirmed, lsn, delayed, syncNames, replayAge, error,
                checks, failedChecks);
        view = next;
        if (old.up() != next.up() || old.role() != next.role()) {
            log.info("member {} ({}) is now {} {}{}", host.name(), endpoint, next.up() ? "UP" : "DOWN",
                    next.role().label(), error == null ? "" : ": " + error);
        }
        router.memberChanged(old, next);
    }

    private void scheduleNext() {
        if (stopped) {
            return;
        }
        long interval;
        boolean transition = (up && failures > 0) || (!up && passes > 0) || confirmed != observed;
        if (transition) {
            interval = settings.checkFastIntervalMicros();
        } else if (up) {
            interval = settings.checkIntervalMicros();
        } else {
            interval = settings.checkDownIntervalMicros();
        }
        loop.schedule(this::runCheck, interval, TimeUnit.MICROSECONDS);
    }
}
