// Differential: who is a live holder of an epoch. The chain answers EpochManager.isEjected; the
// worker answers notLive (worker/engine/dataflow.ts) from the events alone (Slashed,
// MemberDeparted, EpochFrozen), as it does when it routes. Random runs of commits (some epochs
// carried), departures, top-ups and slashes; after every epoch both must agree for every member of
// every epoch whose index the chain can still name (docs/protocol.md §10).
import { expect } from "chai";
import { network } from "hardhat";
import { Wallet, id, keccak256, toBeHex } from "ethers";
import { Liveness } from "../../worker/chain/liveness.js";
import { prng } from "../utils/prng.js";
import { deployEpochs, joinWorker, PARAMS, requestIdOf } from "./fixture.js";

const { ethers, networkHelpers } = await network.create();

describe("liveness: EpochManager.isEjected = the worker's notLive, on random runs", function () {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: agree for every member of every epoch`, async function () {
      const random = prng(seed); // a failing run is replayed by its seed
      const fx = await deployEpochs(ethers);
      const em = fx.epochs;
      await em.setSlasher(fx.admin.address); // the first slasher: at once; the test proves nothing
      const workers = fx.others.slice(0, 5);
      const keys = workers.map((_, i) => new Wallet(id(`liveness-${seed}-${i}`)));
      for (let i = 0; i < workers.length; i++) {
        await joinWorker(fx, workers[i], {
          funds: 3n * PARAMS.minStake,
          stake: 2n * PARAMS.minStake,
          signingKey: keys[i].address,
        });
      }
      let compared = 0;
      let ejectedSeen = 0;
      for (let round = 0; round < 14; round++) {
        const current = await em.currentEpoch();
        const next = current + 1n;
        // Commit: everyone who may, or (a third of the time) too few, so that the set is carried.
        const few = random() < 0.35;
        for (const [i, w] of workers.entries()) {
          if (few && i > 1) continue;
          const s = await em.stakeOf(w.address);
          if (s.jailedUntil > next || s.active < PARAMS.minStake) continue;
          await em.connect(w).commit(next);
        }
        // Departures (a full exit) and top-ups.
        for (const w of workers) {
          const s = await em.stakeOf(w.address);
          const r = random();
          if (r < 0.12 && s.active > 0n) await em.connect(w).requestUnstake(s.active);
          else if (r < 0.2 && s.active < PARAMS.minStake) {
            await fx.token.mint(w.address, PARAMS.minStake);
            await fx.token.connect(w).approve(await em.getAddress(), PARAMS.minStake);
            await em.connect(w).stake(PARAMS.minStake);
          }
        }
        // A slash of a random member of the current epoch, for a random fault.
        if (current > 0n && random() < 0.4) {
          const n = Number((await em.epochInfo(current)).n);
          const index = Math.floor(random() * n);
          const w = (await em.workerAt(current, index)).toLowerCase();
          const key = keys[workers.findIndex((x) => x.address.toLowerCase() === w)];
          const fault = Math.floor(random() * 5);
          const faults = Number(await em.faultsAt(current, index));
          const departed = await em.departedAt(w, (await em.epochInfo(current)).assignmentEpoch);
          const notPunishable = departed[0] && current >= departed[1] + 2n;
          if (((faults >> fault) & 1) === 0 && !notPunishable) {
            const digest = keccak256(toBeHex(round, 32));
            const sig = key.signingKey.sign(digest).serialized;
            await em.punish(w, current, index, fault, digest, sig, ethers.ZeroAddress, fx.admin.address);
          }
        }
        // The next epoch.
        await networkHelpers.time.increaseTo((await em.epochInfo(current)).commitDeadline);
        await em.freeze(next);
        const info = await em.epochInfo(next);
        if (info.assignmentEpoch === next)
          await fx.coordinator.fulfillRandomWords(await requestIdOf(em, next), await fx.beacon.getAddress());
        await networkHelpers.time.increaseTo((await em.epochInfo(current)).end);
        await em.advance();

        // What the worker knows: the events, folded as the worker folds them.
        const live = new Liveness();
        for (const e of await em.queryFilter(em.filters.EpochFrozen()))
          live.frozen(e.args.epoch, BigInt(e.args.assignmentEpoch));
        for (const e of await em.queryFilter(em.filters.MemberDeparted())) live.departed(e.args.worker, e.args.epoch);
        const faultEpochs = new Map<string, bigint[]>(); // each member's distinct fault epochs, in order
        for (const e of await em.queryFilter(em.filters.Slashed())) {
          live.slashed(e.args.worker, e.args.epoch, e.args.jailedUntil);
          const at = faultEpochs.get(e.args.worker.toLowerCase()) ?? [];
          if (!at.includes(e.args.epoch)) at.push(e.args.epoch);
          faultEpochs.set(e.args.worker.toLowerCase(), at);
        }
        // Compare: every member of every epoch the chain can still name.
        const now = await em.currentEpoch();
        for (let e = 1n; e <= now; e++) {
          const n = Number((await em.epochInfo(e)).n);
          for (let i = 0; i < n; i++) {
            const w = (await em.workerAt(e, i)).toLowerCase();
            const named = await em.indexOf(e, w).then(
              (x) => Number(x) === i,
              () => false,
            );
            if (!named) continue; // its record no longer reaches e: isEjected answers false
            const chain = await em.isEjected(e, w);
            const worker = live.isEjected(e, w);
            // Jail ranges that do not touch: the contract keeps the newer (docs/protocol.md §10);
            // they may differ on epochs already past when the newer fault was punished.
            const ranges = faultEpochs.get(w) ?? [];
            const pastOnly = ranges.length > 1 && chain !== worker && worker && e < ranges[ranges.length - 1];
            if (!pastOnly)
              expect(chain, `seed ${seed}, round ${round}: epoch ${e}, member ${i} (${w})`).to.equal(worker);
            compared++;
            if (chain) ejectedSeen++;
          }
        }
      }
      expect(compared, "members compared").to.be.greaterThan(40);
      expect(ejectedSeen, "the runs reach ejections").to.be.greaterThan(0);
    });
  }
});
