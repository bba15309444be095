/**
 * @module
 * A stand-in for the control worker behind the edge worker's CONTROL service
 * binding in the edge tests: it runs in Node and answers every request with
 * what it received, so a test can see exactly what the edge forwarded.
 */
export async function fakeControl(request: Request): Promise<Response> {
  return Response.json(
    { control: true, method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() },
    { headers: { 'x-fake-control': '1' } },
  )
}
