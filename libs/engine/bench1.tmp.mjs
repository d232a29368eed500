import { loadPack, createModelRuntime } from "@longshot/runtime";
import { Tensor } from "@longshot/tensor";
const t0 = performance.now();
const pack = await loadPack("/tmp/smoke/pack");
console.log("loadPack ms", performance.now() - t0);
const rt = createModelRuntime({ executionProvider: "cpu", threads: 2 });
for (const g of ["textEncoder","keyframeUnet","interpolationUnet","vaeDecoder"]) { const t=performance.now(); await rt.load(pack, g); console.log("load", g, performance.now()-t); }
const kf = await rt.load(pack, "keyframeUnet");
const it = await rt.load(pack, "interpolationUnet");
const vae = await rt.load(pack, "vaeDecoder");
const ctx = Tensor.zeros([2,32,384]);
for (const F of [5]) { const s = Tensor.zeros([2,4,F,16,16]); for (let i=0;i<3;i++){const t=performance.now(); await kf.run({sample:s, timestep:new Tensor("float32", new Float32Array([500,500]),[2]), encoder_hidden_states: ctx}); console.log("kf", F, performance.now()-t);} }
for (const F of [17, 65, 257]) for (const B of [1,2]) { const s = Tensor.zeros([B,9,F,16,16]); for (let i=0;i<2;i++){const t=performance.now(); await it.run({sample:s, timestep:new Tensor("float32", new Float32Array(B).fill(500),[B]), encoder_hidden_states: Tensor.zeros([B,32,384]), frame_stride: new Tensor("float32", new Float32Array(B).fill(1),[B])}); console.log("interp", F, B, performance.now()-t);} }
for (const B of [1,8,16,32]) { const t=performance.now(); await vae.run({latent: Tensor.zeros([B,4,16,16])}); console.log("vae", B, performance.now()-t); }
await rt.close();
