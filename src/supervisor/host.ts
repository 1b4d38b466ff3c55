import { connect } from 'node:net';
import { CHANNEL_COMMANDS_PATH, CHANNEL_IDLE_MS, CHANNEL_SHELL_PATH } from '../core/channel.ts';
import { upgradeProxy } from './ws-upstream.ts';
import type { HostedServer, SuperviseOnHost } from '../core/hosted-server.ts';
import { Http1Client, netConnector } from '../core/http1-client.ts';
import type { SamplingPace } from '../core/sampling-pace.ts';
import { ActivityReporter } from './activity.ts';
import { serveChannel, type ChannelHandler } from './channel-server.ts';
import { watchLimits } from './limit-watch.ts';
import { BERTH_ERROR_HEADER, forwardableHeaders, replyError } from './reply.ts';
import { paceReads } from './read-pace.ts';
import { serve, type Served } from './serve.ts';
import { MAX_SERVER_MESSAGE_BYTES, ReadBudget } from './server-messages.ts';
import { shellStatus, StartTimeout, type AttachedServer, type ServerExit } from './server-process.ts';

/** After its server exits, a hosted sandbox lets in-flight answers flush their "server exited" errors this long. */
const EXIT_FLUSH_MS = 100;

/**
 * What hosted servers' unfinished lines may hold of berth's memory together: sixteen of the largest messages berth
 * reads (MAX_SERVER_MESSAGE_BYTES). A supervisor inside a sandbox holds its server's in the sandbox's own memory.
 */
const HOSTED_READ_BYTES = 16 * MAX_SERVER_MESSAGE_BYTES;

/**
 * How fast a hosted server's stdout is read, sustained: a server that floods it is parsed at this pace on berth's CPU
 * (a fraction of a core), and waits on its full pipe for the rest. Two of the largest messages pass at once.
 */
const READ_PACE = { burstBytes: 2 * MAX_SERVER_MESSAGE_BYTES, bytesPerSecond: 16 * 1024 * 1024 };

/**
 * Supervises a stdio server from berth's own process: the same work as the supervisor inside a sandbox (serve.ts),
 * on the server's stdin and stdout passed out of the sandbox as pipes, with the channel served on a socket only
 * berth reaches. The sandbox then runs no supervisor of its own: one Node process fewer to start and to keep per
 * session. Commands still run inside the sandbox, by a runner its launcher starts at the first one; this side
 * passes them through. What the in-sandbox supervisor would report arrives through `report`; a fault while
 * handling what the server sent fails that sandbox and never reaches berth.
 */
export function hostSupervision({ readBudget = new ReadBudget(HOSTED_READ_BYTES) }: { readBudget?: ReadBudget } = {}): SuperviseOnHost {
  return (hosted) => supervise(hosted, readBudget);
}

/** The node's supervision of its hosted servers, with one read budget for them all. */
export const superviseOnHost: SuperviseOnHost = hostSupervision();

function supervise(hosted: HostedServer, readBudget: ReadBudget): { close(): void } {
  const { spec, report, log } = hosted;
  const activity = new ActivityReporter(report);
  let channel: { close(): void } | undefined;
  let limits: SamplingPace | undefined;
  let over = false;
  // No word from the launcher means the sandbox was ended around the server (stopped, or killed whole): its calls
  // then lose their connections, as they would with a supervisor inside, and the session says why; the server did
  // not crash on its own.
  const exited = new Promise<ServerExit>((resolve) => {
    void hosted.exitStatus.then((status) => {
      if (status !== undefined) resolve(shellStatus(status));
      else {
        over = true;
        channel?.close();
      }
    });
  });
  const server: AttachedServer = { pid: hosted.pid, host: '', stdin: hosted.stdin, stdout: hosted.stdout, exited };
  const commands = commandsProxy(hosted);
  // Its reads start flowing on the next turn of the loop, by when the peer (made in run's first synchronous steps)
  // reads them too.
  paceReads(hosted.stdout, READ_PACE);
  const fail = (code: 'sandbox_failed' | 'server_start_timeout', message: string): void => {
    if (over) return;
    over = true;
    report({ type: 'failed', code, message });
    hosted.end();
  };
  const onFault = (error: unknown): void => {
    const message = error instanceof Error ? error.message : String(error);
    log(`berth: the supervisor failed and ends the sandbox: ${error instanceof Error ? (error.stack ?? message) : message}`);
    fail('sandbox_failed', `supervisor error: ${message}`);
  };

  const run = async (): Promise<void> => {
    let served: Served;
    try {
      served = await serve(spec, server, { log, activity, endServer: hosted.end, onFault, readBudget });
      if (over) return;
      const routes = new Map<string, ChannelHandler>([
        [`POST ${served.path}`, served.handler],
        [`POST ${CHANNEL_COMMANDS_PATH}`, commands.handle],
        // Shells run where commands do, inside the sandbox, by the same runner.
        [
          `GET ${CHANNEL_SHELL_PATH}`,
          upgradeProxy(
            () => {
              hosted.startCommands();
              return connect({ path: hosted.commandsPath });
            },
            (url) => url,
            'localhost',
            "the sandbox's command runner takes no connection",
          ),
        ],
      ]);
      channel = await serveChannel(
        { path: hosted.channelPath },
        routes,
        () => ({ ok: true, serverPid: hosted.pid, era: served.era, busy: activity.busy }),
        log,
        () => limits?.begin() ?? ignore,
      );
    } catch (error) {
      fail(error instanceof StartTimeout ? 'server_start_timeout' : 'sandbox_failed', (error as Error).message);
      return;
    }
    if (over) {
      channel.close();
      return;
    }
    report({ type: 'ready', serverPid: hosted.pid, era: served.era });
    if (spec.watch) limits = watchLimits(spec.watch, report, { workspace: hosted.workspace, processes: hosted.processes });
    const exit = await exited;
    if (over) return;
    over = true;
    report({ type: 'server-exit', exitCode: exit.exitCode, signal: exit.signal });
    setTimeout(hosted.end, EXIT_FLUSH_MS).unref();
  };
  run().catch(onFault);

  return {
    close() {
      over = true;
      channel?.close();
      limits?.stop();
      commands.close();
    },
  };
}

/**
 * `POST /commands`, passed to the sandbox's command runner: started at the first command (the launcher's shell
 * starts one unless it runs), it accepts on the sandbox's own channel socket, where connections wait until it does.
 * Bodies stream both ways; berth's error marker on an answer passes, so the edge renders the runner's errors.
 */
function commandsProxy(hosted: HostedServer): { handle: ChannelHandler; close(): void } {
  const client = new Http1Client(netConnector({ path: hosted.commandsPath }), { idleMs: CHANNEL_IDLE_MS, peer: "the sandbox's command runner" });
  const handle: ChannelHandler = (req, res) => {
    hosted.startCommands();
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    client
      .request({
        method: 'POST',
        path: CHANNEL_COMMANDS_PATH,
        headers: forwardableHeaders(req.headers),
        body: hasBody ? (req.whole ?? req.body()) : undefined,
        keepBody: true,
        signal: controller.signal,
      })
      .then(
        (answer) => {
          if (res.destroyed) {
            answer.body.destroy();
            return;
          }
          const marker = answer.headers[BERTH_ERROR_HEADER];
          res.writeHead(answer.statusCode, { ...forwardableHeaders(answer.headers), ...(marker === undefined ? {} : { [BERTH_ERROR_HEADER]: marker }) });
          if (answer.whole) res.end(answer.whole);
          else res.relay(answer.body);
        },
        (error: unknown) => {
          if (res.destroyed) return;
          replyError(res, 'sandbox_unavailable', `runtime "${hosted.spec.runtime}": the sandbox's command runner did not answer (${(error as Error).message})`);
        },
      );
  };
  return { handle, close: () => client.close("the sandbox's command runner has ended") };
}

function ignore(): void {}
