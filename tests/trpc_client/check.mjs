// The original app's client set-up (its src/trpc/client.tsx, without React): createTRPCClient
// with httpBatchLink and superjson at /api/trpc. Runs every procedure, a batch of two queries,
// and each error against the QAI at argv[2] (argv[3]: a project with a fragment); prints what
// it saw as one JSON object on stdout, which tests/api/test_trpc_client.py checks.
import { createTRPCClient, httpBatchLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";

const base = process.argv[2];
const fragmentProject = process.argv[3]; // a project whose history holds a fragment
const requests = [];
const client = createTRPCClient({
  links: [
    httpBatchLink({
      url: `${base}/api/trpc`,
      transformer: superjson,
      fetch: (input, init) => {
        requests.push({ url: String(input), method: init?.method ?? "GET" });
        return fetch(input, init);
      },
    }),
  ],
});

// Dates come back as Date objects (superjson); written here as {"date": iso} to tell them apart.
const plain = (value) =>
  JSON.parse(
    JSON.stringify(value, function (key, item) {
      const raw = this[key];
      return raw instanceof Date ? { date: raw.toISOString() } : item;
    }),
  );

async function failure(call) {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    return { message: error.message, code: error.data?.code, httpStatus: error.data?.httpStatus,
             path: error.data?.path, shapeCode: error.shape?.code };
  }
  throw new Error("expected a TRPCClientError");
}

const out = {};
const project = await client.projects.create.mutate({ value: "a kanban board" });
out.created = plain(project);
out.createdIsDate = project.createdAt instanceof Date && project.updatedAt instanceof Date;
out.getOne = plain(await client.projects.getOne.query({ id: project.id }));
out.getMany = plain(await client.projects.getMany.query());
const message = await client.messages.create.mutate({ value: "make it blue", projectId: project.id });
out.message = plain(message);
const history = await client.messages.getMany.query({ projectId: project.id });
out.history = plain(history);
out.historyDates = history.every((m) => m.createdAt instanceof Date && m.updatedAt instanceof Date);

const withFragment = await client.messages.getMany.query({ projectId: fragmentProject });
out.fragmentHistory = plain(withFragment);
out.fragmentDates = withFragment.every(
  (m) => m.fragment === null ||
    (m.fragment.createdAt instanceof Date && m.fragment.updatedAt instanceof Date),
) && withFragment.some((m) => m.fragment !== null);

const before = requests.length;
const [one, many] = await Promise.all([
  client.projects.getOne.query({ id: project.id }),
  client.messages.getMany.query({ projectId: project.id }),
]);
out.batch = { requests: requests.slice(before), getOne: plain(one), history: plain(many) };

out.errors = {
  idRequired: await failure(() => client.projects.getOne.query({ id: "" })),
  notFound: await failure(() => client.projects.getOne.query({ id: "no-such-project" })),
  promptRequired: await failure(() => client.projects.create.mutate({ value: "" })),
  promptTooLong: await failure(() => client.projects.create.mutate({ value: "x".repeat(1001) })),
  historyIdRequired: await failure(() => client.messages.getMany.query({ projectId: "" })),
  messagePromptRequired: await failure(() =>
    client.messages.create.mutate({ value: "", projectId: project.id }),
  ),
  messageToUnknownProject: await failure(() =>
    client.messages.create.mutate({ value: "hello", projectId: "no-such-project" }),
  ),
};
// A batch where one query fails and the other answers (HTTP 207).
const before207 = requests.length;
const settled = await Promise.allSettled([
  client.projects.getOne.query({ id: project.id }),
  client.projects.getOne.query({ id: "no-such-project" }),
]);
out.mixedBatch = {
  requests: requests.slice(before207).length,
  statuses: settled.map((s) => s.status),
  notFound: settled[1].reason?.data?.code,
};
out.requests = requests;
process.stdout.write(JSON.stringify(out));
