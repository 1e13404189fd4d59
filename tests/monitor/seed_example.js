// The guide's WebSocket client example, verbatim (tests/monitor: run
// with node -r ./ws-global.js, which gives it the WebSocket it assumes).
const ws = new WebSocket('ws://localhost:8765');

ws.onmessage = function(event) {
    const data = JSON.parse(event.data);
    
    if (data.type === 'deployment_update') {
        console.log('Deployment progress:', data.data.progress_percentage);
    } else if (data.type === 'monitoring_event') {
        console.log('Event:', data.data.event_type, data.data.server_name);
    }
};
